#!/usr/bin/env python3
"""Check the file handler's output (DIR/worker-N.log) against a topic.

Lines are `TOPIC PARTITION OFFSET KEY VALUE` with key and value in hex
(`-` for null).  The records were written by the oracle (tests/kafka/oracle)
with kf_probe's scheme: value "TOPIC/PARTITION/SEQ" padded with '.', key
"k<SEQ>" (--keys seq) or null, SEQ the record's offset.

  check_output.py --topic T --ends FILE [--starts FILE] [--expect FILE]
                  [--keys seq|none] [--once] [--ordered]
                  [--dups-within FILE] DIR...

--ends: "PARTITION OFFSET" lines, the end offsets (oracle end-offsets);
--starts: the first offsets (default 0); --expect: the exact "PARTITION
OFFSET" pairs that must be there (transactions: control records and
aborted ones are not), instead of every offset between start and end.
Every expected record must be present and intact; --once: and no
duplicates; --ordered: each file's offsets rise per partition;
--dups-within: "PARTITION FIRST END" lines, windows of offsets that may be
delivered again (e.g. from the commit before a disruption to what was
delivered once it was over): every duplicate must lie in a window of its
partition, and a partition's duplicates are at most the sum of its
windows' sizes.  Prints one summary line; exit 0 when the checks pass, 1
otherwise.
"""
import argparse
import glob
import os
import sys


def read_pairs(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out[int(parts[0])] = int(parts[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", required=True)
    ap.add_argument("--ends")
    ap.add_argument("--starts")
    ap.add_argument("--expect")
    ap.add_argument("--keys", default="seq", choices=("seq", "none", "any"))
    ap.add_argument("--once", action="store_true")
    ap.add_argument("--ordered", action="store_true")
    ap.add_argument("--dups-within")
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args()

    if a.expect:
        want = set()
        with open(a.expect) as f:
            for line in f:
                p, o = line.split()
                want.add((int(p), int(o)))
    else:
        ends = read_pairs(a.ends)
        starts = read_pairs(a.starts) if a.starts else {}
        want = {(p, o) for p, e in ends.items() for o in range(starts.get(p, 0), e)}

    seen = {}
    bad = []
    disorder = 0
    for d in a.dirs:
        for path in sorted(glob.glob(os.path.join(d, "worker-*.log"))):
            last = {}
            with open(path, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    parts = line.split()
                    if len(parts) != 5 or parts[0] != a.topic:
                        continue
                    p, o = int(parts[1]), int(parts[2])
                    seen[(p, o)] = seen.get((p, o), 0) + 1
                    if a.ordered and p in last and o <= last[p]:
                        disorder += 1
                    last[p] = o
                    try:
                        value = bytes.fromhex(parts[4]).decode() if parts[4] != "-" else None
                        key = bytes.fromhex(parts[3]).decode() if parts[3] != "-" else None
                    except ValueError:
                        value = key = "?"
                    text = "%s/%d/%d" % (a.topic, p, o)
                    if value is None or not value.startswith(text) or \
                            value[len(text):].strip(".") != "":
                        bad.append("%s:%d: value %r" % (path, n, value))
                    elif a.keys == "seq" and key != "k%d" % o:
                        bad.append("%s:%d: key %r" % (path, n, key))
                    elif a.keys == "none" and key is not None:
                        bad.append("%s:%d: key %r" % (path, n, key))

    missing = sorted(want - set(seen))
    extra = sorted(set(seen) - want)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    outside = []
    over = []
    bound = 0
    if a.dups_within:
        windows = {}
        with open(a.dups_within) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    p, lo, hi = (int(x) for x in parts)
                    windows.setdefault(p, []).append((lo, hi))
                    bound += max(0, hi - lo)
        per = {}
        for (p, o), c in seen.items():
            if c < 2:
                continue
            per[p] = per.get(p, 0) + c - 1
            if not any(lo <= o < hi for lo, hi in windows.get(p, ())):
                outside.append((p, o))
        for p, n in sorted(per.items()):
            room = sum(max(0, hi - lo) for lo, hi in windows.get(p, ()))
            if n > room:
                over.append("partition %d: %d duplicates, windows hold %d" % (p, n, room))
        outside.sort()
    print("topic %s: %d records expected, %d distinct seen, %d missing, %d unexpected, "
          "%d duplicates, %d out of order, %d bad" %
          (a.topic, len(want), len(seen), len(missing), len(extra), dups, disorder, len(bad)) +
          ("" if not a.dups_within else
           " (windows: %d records, %d duplicates outside)" % (bound, len(outside))))
    for what, items in (("missing", missing), ("unexpected", extra), ("bad", bad),
                        ("duplicate outside the windows", outside), ("too many duplicates", over)):
        for x in items[:5]:
            print("  %s: %s" % (what, x))
    ok = not missing and not extra and not bad
    ok = ok and (not a.once or dups == 0) and (not a.ordered or disorder == 0)
    ok = ok and not outside and not over
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
