# kforkd's exec handler in part 3 of tests/bench/compare.sh (the seed case):
#   seed_handler.py USEC OUTDIR
# Each record costs USEC inside one C call that keeps the GIL
# (compare_common.hold_gil, the very function the Python peers call in
# their poll loop); then "PARTITION OFFSET SECONDS" is appended to
# OUTDIR/kforkd.PID.out (one file per worker: kforkd runs a copy per
# worker) before the answer "ok", so a commit never covers a record the
# file lacks.  The protocol is etc/examples/handler.py's serve().
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "etc", "examples"))

from compare_common import hold_gil  # noqa: E402
from handler import serve  # noqa: E402


def main():
    usec = int(sys.argv[1])
    out = open(os.path.join(sys.argv[2], "kforkd.%d.out" % os.getpid()), "a", buffering=1)
    t0 = time.monotonic()

    def handle(record):
        hold_gil(usec)
        out.write("%d %d %.3f\n" % (record.partition, record.offset, time.monotonic() - t0))

    serve(handle)


if __name__ == "__main__":
    main()
