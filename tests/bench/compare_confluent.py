# confluent-kafka peer of tests/bench/compare.sh.
#   drain BOOTSTRAP GROUP TOPIC
#       consume from the beginning, auto commit every 500 ms (like kcat -G
#       in compare.sh), until SIGTERM; close() commits the last offsets.
#   burn|hold BOOTSTRAP GROUP TOPIC OUT STATS USEC SESSION_MS [HEARTBEAT_MS]
#       the client's defaults but session.timeout.ms (and
#       heartbeat.interval.ms); each record costs USEC in the poll loop:
#       burn, of CPU in Python bytecode (compare_common.burn); hold, inside
#       one C call that keeps the GIL (compare_common.hold_gil).  Then
#       "PARTITION OFFSET SECONDS" goes to OUT.  Counts on_assign/on_revoke
#       calls and failed commits (on_commit callback) into STATS (JSON) at
#       exit.
import sys

from confluent_kafka import Consumer, KafkaError

from compare_common import WORK, Peer


def drain(bootstrap, group, topic):
    peer = Peer()
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
    })
    c.subscribe([topic])
    while peer.running:
        for m in c.consume(num_messages=10000, timeout=0.2):
            m.value()
    c.close()


def heavy(work, bootstrap, group, topic, out, stats, usec, session_ms,
          heartbeat_ms=None):
    peer = Peer(out, stats)

    def on_commit(err, parts):
        # _NO_OFFSET: an auto commit with nothing new to commit.
        errs = [e for e in [err] + [p.error for p in parts or []]
                if e is not None and e.code() != KafkaError._NO_OFFSET]
        if errs:
            peer.fail_commit()
            peer.stats.setdefault("errors", []).append(errs[0].name())

    def on_assign(_c, _parts):
        peer.stats["assigns"] += 1

    def on_revoke(_c, _parts):
        peer.stats["revokes"] += 1

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_ms,
        "on_commit": on_commit,
    }
    if heartbeat_ms:
        conf["heartbeat.interval.ms"] = heartbeat_ms
    c = Consumer(conf)
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    try:
        while peer.running:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            work(usec)
            peer.done(m.partition(), m.offset())
        c.close()
    finally:
        peer.dump()


if __name__ == "__main__":
    if sys.argv[1] == "drain":
        drain(*sys.argv[2:5])
    else:
        heavy(WORK[sys.argv[1]], *sys.argv[2:7], int(sys.argv[7]), int(sys.argv[8]),
              *[int(a) for a in sys.argv[9:10]])
