# kafka-python peer of tests/bench/compare.sh (Debian python3-kafka, and
# python3-lz4 for lz4 batches).
#   drain BOOTSTRAP GROUP TOPIC
#       consume from the beginning, auto commit every 500 ms (like kcat -G
#       in compare.sh), until SIGTERM; close() commits the last offsets.
#   burn BOOTSTRAP GROUP TOPIC OUT STATS USEC SESSION_MS
#       the client's defaults but session_timeout_ms; each record costs
#       USEC of CPU in Python (compare_common.burn), then "PARTITION OFFSET"
#       goes to OUT.  Counts the listener's assigned/revoked calls, and
#       failed commits: kafka-python's auto commit reports them only by
#       logging ("... commit failed ...") from kafka.coordinator.consumer,
#       so a logging handler counts those.  STATS (JSON) at exit.
import logging
import sys

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError

from compare_common import Peer, burn


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
        msg = record.getMessage().lower()
        if "commit" in msg and "fail" in msg:
            self.peer.fail_commit()


class Listener(ConsumerRebalanceListener):
    def __init__(self, peer):
        self.peer = peer

    def on_partitions_revoked(self, revoked):
        self.peer.stats["revokes"] += 1

    def on_partitions_assigned(self, assigned):
        self.peer.stats["assigns"] += 1


def heavy(bootstrap, group, topic, out, stats, usec, session_ms):
    peer = Peer(out, stats)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka.coordinator").addHandler(CommitFailures(peer))
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest",
                      session_timeout_ms=session_ms)
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
                    burn(usec)
                    peer.done(r.partition, r.offset)
        c.close()
    finally:
        peer.dump()


if __name__ == "__main__":
    if sys.argv[1] == "drain":
        drain(*sys.argv[2:5])
    else:
        heavy(*sys.argv[2:7], int(sys.argv[7]), int(sys.argv[8]))
