#!/usr/bin/env bash
# kforkd-corrupt.sh with a batch whose length claims more bytes than it has:
# the partition must stop with an error after a few incomplete answers,
# not refetch it forever.
KFORKD_CORRUPT_HOW=truncate exec bash "$(dirname "$0")/kforkd-corrupt.sh"
