"""Exec handler for the worker suite (tests/unit/test_worker.c).

Answers by the record's value:
  ok          ok
  fail        fail bad value
  retry       retry, always
  retry2      retry on the first two deliveries of the offset, then ok
  sleep       sleep 0.3 s, then ok
  crash-once  exit(3) the first time (marker file DUMP.crashed), then ok
  crash       exit(3) every time
  garbage     writes "hello" instead of an answer
  stderr      writes "note from handler" to stderr, then ok
anything else is ok.  Every record read is appended to DUMP (argv[1]) as
"TOPIC PARTITION OFFSET TIMESTAMP KEYHEX VALUEHEX" (- for null).  Uses the
framing reader of etc/examples/handler.py.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "etc", "examples"))
from handler import read_record  # noqa: E402


def hexa(b):
    return "-" if b is None else b.hex()


def main():
    dump = open(sys.argv[1], "a")
    seen = {}
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        r = read_record(inp)
        if r is None:
            return
        dump.write("%s %d %d %d %s %s\n" % (r.topic, r.partition, r.offset,
                                            r.timestamp, hexa(r.key), hexa(r.value)))
        dump.flush()
        seen[r.offset] = seen.get(r.offset, 0) + 1
        v = r.value
        ans = b"ok"
        if v == b"fail":
            ans = b"fail bad value"
        elif v == b"retry":
            ans = b"retry"
        elif v == b"retry2":
            ans = b"retry" if seen[r.offset] <= 2 else b"ok"
        elif v == b"sleep":
            time.sleep(0.3)
        elif v == b"crash-once":
            marker = sys.argv[1] + ".crashed"
            if not os.path.exists(marker):
                open(marker, "w").close()
                sys.stderr.write("crashing on purpose\n")
                sys.stderr.flush()
                os._exit(3)
        elif v == b"crash":
            os._exit(3)
        elif v == b"garbage":
            ans = b"hello"
        elif v == b"stderr":
            sys.stderr.write("note from handler\n")
            sys.stderr.flush()
        out.write(ans + b"\n")
        out.flush()


main()
