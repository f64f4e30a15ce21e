#!/usr/bin/env python3
"""A Python group member for the mixed-group test (kforkd-mixed.sh), on
confluent-kafka or kafka-python, from the venv of tests/kafka/pyenv.sh.

  peer.py confluent|kafka-python --bootstrap B --group G --topic T
          --assignor range|roundrobin --out FILE [--max N] [--client-id ID]

Subscribes to T in group G with the classic protocol and the assignor
given, from the earliest offset where the group has no commit.  Each
record is checked against the oracle's scheme (value "T/P/OFFSET" padded
with '.', key "k<OFFSET>") and written to FILE as "PARTITION OFFSET",
flushed before every commit, so a commit never covers a record the file
does not hold.  Commits are synchronous: the records processed, after each
batch and, for the partitions taken away, in the revoke callback.  Ends on
SIGTERM or after N records: commits, closes (LeaveGroup), and prints one
JSON line of counters.  Exit 1 when a record was not what the oracle wrote.
"""
import argparse
import json
import signal
import sys
import time


class Member:
    def __init__(self, a):
        self.a = a
        self.out = open(a.out, "a")
        self.done = {}        # partition -> next offset to commit
        self.committed = {}   # partition -> what the last commit said
        self.stats = {"lib": a.lib, "records": 0, "assigns": 0, "revokes": 0,
                      "commits": 0, "commit_failures": 0, "bad_records": 0}
        self.running = True
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def stop(self, *_):
        self.running = False

    def record(self, partition, offset, key, value):
        want = ("%s/%d/%d" % (self.a.topic, partition, offset)).encode()
        if value is None or not value.startswith(want) or \
                value[len(want):].strip(b".") or key != ("k%d" % offset).encode():
            self.stats["bad_records"] += 1
            if self.stats["bad_records"] <= 3:
                print("peer: bad record at %d/%d: key %r value %r" %
                      (partition, offset, key, value[:60] if value else value), file=sys.stderr)
        self.out.write("%d %d\n" % (partition, offset))
        self.stats["records"] += 1
        self.done[partition] = offset + 1

    def pending(self, parts=None):
        return {p: o for p, o in self.done.items()
                if (parts is None or p in parts) and self.committed.get(p) != o}

    def commit(self, parts=None):
        todo = self.pending(parts)
        if not todo:
            return
        self.out.flush()
        try:
            self.commit_offsets(todo)
            self.committed.update(todo)
            self.stats["commits"] += 1
        except Exception as e:  # the library's commit error
            self.stats["commit_failures"] += 1
            print("peer: commit failed: %s" % e, file=sys.stderr)

    def revoked(self, parts):
        self.stats["revokes"] += 1
        self.commit(parts)
        for p in parts:
            self.done.pop(p, None)
            self.committed.pop(p, None)

    def enough(self):
        return self.a.max and self.stats["records"] >= self.a.max

    def run(self):
        self.open()
        while self.running and not self.enough():
            self.poll()
            self.commit()
        self.commit()
        self.close()
        self.out.close()
        print(json.dumps(self.stats))
        return 1 if self.stats["bad_records"] else 0


class Confluent(Member):
    def open(self):
        from confluent_kafka import Consumer
        a = self.a
        self.c = Consumer({
            "bootstrap.servers": a.bootstrap, "group.id": a.group,
            "client.id": a.client_id or "peer-confluent",
            "partition.assignment.strategy": a.assignor,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
        })
        self.c.subscribe([a.topic], on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, _c, parts):
        self.stats["assigns"] += 1

    def on_revoke(self, _c, parts):
        self.revoked({tp.partition for tp in parts})

    def poll(self):
        room = self.a.max - self.stats["records"] if self.a.max else 500
        for m in self.c.consume(num_messages=min(500, room), timeout=0.5):
            if m.error():
                print("peer: %s" % m.error(), file=sys.stderr)
                continue
            self.record(m.partition(), m.offset(), m.key(), m.value())

    def commit_offsets(self, todo):
        from confluent_kafka import TopicPartition
        res = self.c.commit(offsets=[TopicPartition(self.a.topic, p, o) for p, o in todo.items()],
                            asynchronous=False)
        bad = [tp for tp in res or [] if tp.error]
        if bad:
            raise RuntimeError(", ".join("%d: %s" % (tp.partition, tp.error) for tp in bad))

    def close(self):
        self.c.close()


class KafkaPython(Member):
    def open(self):
        from kafka import KafkaConsumer, ConsumerRebalanceListener
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        a, me = self.a, self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                me.revoked({tp.partition for tp in revoked})

            def on_partitions_assigned(self, assigned):
                me.stats["assigns"] += 1

        self.c = KafkaConsumer(
            bootstrap_servers=a.bootstrap.split(","), group_id=a.group,
            client_id=a.client_id or "peer-kafka-python",
            partition_assignment_strategy=[{"range": RangePartitionAssignor,
                                            "roundrobin": RoundRobinPartitionAssignor}[a.assignor]],
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=10000, heartbeat_interval_ms=1000, max_poll_records=500)
        self.c.subscribe(topics=[a.topic], listener=Listener())

    def poll(self):
        room = self.a.max - self.stats["records"] if self.a.max else 500
        for tp, recs in self.c.poll(timeout_ms=500, max_records=min(500, room)).items():
            for r in recs:
                self.record(tp.partition, r.offset, r.key, r.value)

    def commit_offsets(self, todo):
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata
        try:
            meta = {TopicPartition(self.a.topic, p): OffsetAndMetadata(o, "", -1) for p, o in todo.items()}
        except TypeError:  # kafka-python 2.0: (offset, metadata)
            meta = {TopicPartition(self.a.topic, p): OffsetAndMetadata(o, "") for p, o in todo.items()}
        self.c.commit(offsets=meta)

    def close(self):
        self.c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib", choices=("confluent", "kafka-python"))
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--assignor", choices=("range", "roundrobin"), default="range")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max", type=int, default=0)
    ap.add_argument("--client-id")
    a = ap.parse_args()
    m = (Confluent if a.lib == "confluent" else KafkaPython)(a)
    t0 = time.monotonic()
    rc = m.run()
    print("peer %s: %.1f s" % (a.lib, time.monotonic() - t0), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
