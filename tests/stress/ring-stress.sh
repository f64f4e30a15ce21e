#!/bin/sh
# make check: the ring stress run, STRESS_SECONDS long (default 5).  Runs
# from the build directory, where the program was built.
exec ./tests/stress/ring_stress "${STRESS_SECONDS:-5}"
