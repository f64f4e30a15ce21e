# Shared by compare_confluent.py and compare_kafkapython.py, the Python
# peers of tests/bench/compare.sh: the burn, the output file, the counters
# and the SIGTERM flag.
import json
import signal
import time

BURN_WHAT = ("a pure-Python integer loop (LCG, 64-bit mask) until the thread "
             "has used USEC of CPU time; it holds the GIL, which the "
             "interpreter hands over only at its 5 ms switch interval")


class Peer:
    """What a peer counts; dumped as JSON to the stats file at exit."""

    def __init__(self, out_path=None, stats_path=None):
        self.running = True
        self.out = open(out_path, "a", buffering=1) if out_path else None
        self.stats_path = stats_path
        self.stats = {"assigns": 0, "revokes": 0, "commit_failures": 0,
                      "processed": 0, "first_record_s": None,
                      "group_errors": 0}
        self.t0 = time.monotonic()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, _sig, _frame):
        self.running = False

    def done(self, partition, offset):
        """One record processed: "PARTITION OFFSET SECONDS" (since start)
        in the output file."""
        if self.stats["first_record_s"] is None:
            self.stats["first_record_s"] = round(time.monotonic() - self.t0, 3)
        self.stats["processed"] += 1
        if self.out:
            self.out.write("%d %d %.3f\n" % (partition, offset, time.monotonic() - self.t0))

    def fail_commit(self):
        """A failed commit: during the run, or at close, after SIGTERM
        (there, the other process of the group leaving at the same time
        is the usual cause)."""
        if self.running:
            self.stats["commit_failures"] += 1
        else:
            self.stats["commit_failures_at_close"] = \
                self.stats.get("commit_failures_at_close", 0) + 1

    def dump(self):
        if self.stats_path:
            with open(self.stats_path, "w") as f:
                json.dump(self.stats, f)


def burn(usec):
    """Spend usec of this thread's CPU time in Python bytecode, like heavy
    pure-Python processing: the GIL is held all along (see BURN_WHAT)."""
    end = time.thread_time_ns() + usec * 1000
    x = 1
    while time.thread_time_ns() < end:
        for _ in range(200):
            x = (x * 6364136223846793005 + 1) & 0xFFFFFFFFFFFFFFFF
    return x
