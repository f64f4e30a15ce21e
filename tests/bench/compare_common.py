# Shared by compare_confluent.py and compare_kafkapython.py, the Python
# peers of tests/bench/compare.sh, and by seed_handler.py, kforkd's exec
# handler there: the work per record (burn, hold_gil), the output file, the
# counters and the SIGTERM flag.
import ctypes
import json
import signal
import time

BURN_WHAT = ("a pure-Python integer loop (LCG, 64-bit mask) until the thread "
             "has used USEC of CPU time; it holds the GIL, which the "
             "interpreter hands over only at its 5 ms switch interval")


HOLD_WHAT = ("libc's usleep() called through ctypes.PyDLL, which keeps the GIL "
             "for the whole call (ctypes.CDLL would release it): the thread "
             "sleeps, using no CPU, and no other Python thread of the process "
             "runs until the call returns")


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


_LIBC = None


def hold_gil(usec):
    """Stay usec inside one C call that holds the GIL (see HOLD_WHAT): the
    seed case of compare.sh part 3, Python code stuck in a C extension.  A
    signal cuts usleep short; the call is made again for the rest, so the
    record always costs the full time, as a C call that cannot be
    interrupted would."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.PyDLL(None)
    end = time.monotonic() + usec / 1e6
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        _LIBC.usleep(ctypes.c_uint(int(left * 1e6)))


WORK = {"burn": burn, "hold": hold_gil}
