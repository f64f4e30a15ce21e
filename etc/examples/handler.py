#!/usr/bin/env python3
"""A kfork exec handler in Python: copy this file and write handle().

kforkd runs the command once per worker, e.g.

    workers = {
      handler = { type = "exec"; command = [ "python3", "/srv/app/handler.py" ];
                  window = 64; };
    };

and streams records to its stdin.  Each record is framed as

    TOPIC PARTITION OFFSET TIMESTAMP_MS KEYLEN VALUELEN\\n   (LEN -1: null)
    KEY bytes, VALUE bytes, \\n

and gets one answer line on stdout, in the order the records came:
"ok", "retry" (run it again after a backoff) or "fail REASON".  EOF on
stdin means "finish and exit".  Anything the handler prints to stderr goes
to kforkd's log, prefixed with the worker id.

This file is both a library (read_record, serve) and a runnable handler:
replace handle() below, or import serve() and pass your own function.
"""

import sys
from collections import namedtuple

Record = namedtuple("Record", "topic partition offset timestamp key value")


class Retry(Exception):
    """Raise from handle() to have the record delivered again later."""


def _read_exact(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("stream ended inside a record")
    return data


def read_record(stream):
    """Read one framed record from a binary stream; None at a clean EOF."""
    header = stream.readline()
    if not header:
        return None
    if not header.endswith(b"\n"):
        raise EOFError("stream ended inside a record header")
    topic, partition, offset, timestamp, klen, vlen = header.split()
    klen, vlen = int(klen), int(vlen)
    key = _read_exact(stream, klen) if klen >= 0 else None
    value = _read_exact(stream, vlen) if vlen >= 0 else None
    if _read_exact(stream, 1) != b"\n":
        raise ValueError("record not followed by a newline")
    return Record(topic.decode(), int(partition), int(offset), int(timestamp),
                  key, value)


def _one_line(text):
    return " ".join(str(text).split())[:400]


def serve(handle, stdin=None, stdout=None):
    """Call handle(record) for every record and answer for it.

    handle returns normally: "ok"; raises Retry: "retry"; raises anything
    else: "fail TYPE: MESSAGE".  Returns at EOF on stdin.
    """
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    # The protocol owns stdout: a stray print() in handle() would be taken
    # for an answer.  Send print() output to stderr (the log) instead.
    sys.stdout = sys.stderr
    while True:
        record = read_record(stdin)
        if record is None:
            return
        try:
            handle(record)
            answer = "ok"
        except Retry:
            answer = "retry"
        except Exception as exc:  # the record failed; keep serving
            answer = "fail " + _one_line("%s: %s" % (type(exc).__name__, exc))
        stdout.write(answer.encode() + b"\n")
        stdout.flush()  # kfork waits for the answer: never leave it buffered


def handle(record):
    """Your code goes here.  This one insists on UTF-8 values."""
    if record.value is None:
        return  # a tombstone: nothing to do
    record.value.decode("utf-8")  # raises UnicodeDecodeError -> "fail ..."


if __name__ == "__main__":
    serve(handle)
