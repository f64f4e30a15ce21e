"""Exec handler for the worker suite: reads records, never answers, and
ignores EOF and SIGTERM (a stuck handler).  Writes its pid to argv[1]."""
import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % os.getpid())
while True:
    if not sys.stdin.buffer.read(65536):
        time.sleep(0.05)
