# kafka-python peer of tests/bench/compare.sh: Debian's python3-kafka
# (2.0.2, with python3-lz4 for lz4 batches) or the venv's (3.0.12,
# tests/kafka/pyenv.sh).
#   drain BOOTSTRAP GROUP TOPIC
#       consume from the beginning, auto commit every 500 ms (like kcat -G
#       in compare.sh), until SIGTERM; close() commits the last offsets.
#   burn|hold BOOTSTRAP GROUP TOPIC OUT STATS USEC SESSION_MS [HEARTBEAT_MS]
#       the client's defaults but session_timeout_ms (and
#       heartbeat_interval_ms); each record costs USEC in the poll loop:
#       burn, of CPU in Python bytecode (compare_common.burn); hold, inside
#       one C call that keeps the GIL (compare_common.hold_gil).  Then
#       "PARTITION OFFSET SECONDS" goes to OUT.  Counts the listener's
#       assigned/revoked calls, and failed commits: kafka-python's auto
#       commit reports them only by logging ("... commit failed ...") from
#       kafka.coordinator.consumer, so a logging handler counts those (with
#       the error names the lines carry).  STATS (JSON) at exit.
import logging
import re
import sys

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError

from compare_common import WORK, Peer


def drain(bootstrap, group, topic):
    peer = Peer()
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=True,
                      auto_commit_interval_ms=500)
    while peer.running:
        for recs in c.poll(timeout_ms=200).values():
            for r in recs:
                r.value
    c.close()


class CommitFailures(logging.Handler):
    def __init__(self, peer):
        super().__init__(logging.WARNING)
        self.peer = peer

    def emit(self, record):
        msg = record.getMessage()
        low = msg.lower()
        if "commit" in low and "fail" in low:
            self.peer.fail_commit()
            names = re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", msg)
            if record.exc_info and record.exc_info[0]:
                names.append(record.exc_info[0].__name__)
            if not names and "out of date" in low:
                # the UnknownMemberId/IllegalGeneration/RebalanceInProgress
                # errors, which this warning does not name
                names = ["membership-out-of-date"]
            self.peer.stats.setdefault("errors", []).extend(names[:1])


class Listener(ConsumerRebalanceListener):
    def __init__(self, peer):
        self.peer = peer

    def on_partitions_revoked(self, revoked):
        self.peer.stats["revokes"] += 1

    def on_partitions_assigned(self, assigned):
        self.peer.stats["assigns"] += 1


def heavy(work, bootstrap, group, topic, out, stats, usec, session_ms,
          heartbeat_ms=None):
    peer = Peer(out, stats)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka.coordinator").addHandler(CommitFailures(peer))
    extra = {"heartbeat_interval_ms": heartbeat_ms} if heartbeat_ms else {}
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest",
                      session_timeout_ms=session_ms, **extra)
    c.subscribe([topic], listener=Listener(peer))
    try:
        while peer.running:
            try:
                batch = c.poll(timeout_ms=500)
            except KafkaError as e:
                # devbroker's mock answers a SyncGroup that comes after the
                # leader's with INVALID_REQUEST (a real broker hands out the
                # assignment); kafka-python raises it from poll().  Count it
                # and poll again, which joins again.
                peer.stats["group_errors"] += 1
                peer.stats.setdefault("group_error_names", []).append(type(e).__name__)
                continue
            for recs in batch.values():
                for r in recs:
                    if not peer.running:
                        break
                    work(usec)
                    peer.done(r.partition, r.offset)
        c.close()
    finally:
        peer.dump()


if __name__ == "__main__":
    if sys.argv[1] == "drain":
        drain(*sys.argv[2:5])
    else:
        heavy(WORK[sys.argv[1]], *sys.argv[2:7], int(sys.argv[7]), int(sys.argv[8]),
              *[int(a) for a in sys.argv[9:10]])
