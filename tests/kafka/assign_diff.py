#!/usr/bin/env python3
"""kfork's assignors against the Java client's own (see assignor-diff.sh).

    assign_diff.py --kf KF_ASSIGN --oracle ORACLE_SH [--seed S] [--groups G] [--rounds R]

Simulates G consumer groups over R rebalances.  Each round writes one
scenario per group in the format of tests/kafka/oracle/.../Assign.java, runs
kfork's assignors (tests/kafka/kf_assign) and Java's (`oracle.sh assign`) on
them, and compares:

- range, roundrobin, and cooperative-sticky when every member subscribes to
  the same topics: the assignment of every member must be Java's exactly.
- cooperative-sticky with different subscriptions (where kfork does not
  follow Java's algorithm, see supervisor/sticky.c): kfork's assignment
  must be valid (partitions exist, go to subscribers, at most once), follow
  the cooperative rule (a partition another member gives up is not handed
  on in the same rebalance), and leave out nothing else; its balance and
  the partitions it moves are printed beside Java's.

Between rounds members join and leave, topics grow, and every member's
owned partitions are what kfork assigned it in the round before, with the
generation it was assigned in, sent the way a Java client of that age sends
it (Subscription GenerationId, UserData, or neither).  Round 0 also makes up
owned partitions at random, conflicting claims among them.

Exit status 0 when every comparison holds, 1 otherwise.
"""

import argparse
import random
import subprocess
import sys

TOPIC_POOL = ["t", "orders", "Orders", "a-very-long-topic-name-0001", "z", "\u00fcber", "x.y_z"]


class Member:
    def __init__(self, rnd, serial):
        style = rnd.random()
        if style < 0.4:
            self.id = "consumer-%d-%08x-%04x" % (serial, rnd.getrandbits(32), rnd.getrandbits(16))
        elif style < 0.7:
            self.id = "rdkafka-%08x-%04x-%04x" % (rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(16))
        else:
            self.id = "m%d" % serial
        self.inst = ("inst-%d" % serial) if rnd.random() < 0.2 else None
        if self.inst:
            self.id = self.inst + "-" + self.id
        # How this member reports its generation: like a Java 2.8+ client
        # (Subscription v2+ GenerationId, and UserData), a 2.4-2.7 one
        # (UserData only), or not at all.
        self.mode = rnd.choice(["sub", "sub", "sub", "user", "none"])
        self.gen = -1
        self.topics = []
        self.owned = []


class Group:
    def __init__(self, rnd, gid):
        self.rnd = rnd
        self.name = "g%d" % gid
        r = rnd.random()
        self.assignor = "cooperative-sticky" if r < 0.7 else ("range" if r < 0.85 else "roundrobin")
        self.equal = rnd.random() < 0.75
        # One group in ten is large: past 12 and 24 members Java's HashMap
        # doubles its table, which changes the order it walks them in.
        big = rnd.random() < 0.1
        self.topics = {}
        for t in rnd.sample(TOPIC_POOL, rnd.randint(1, 3)):
            self.topics[t] = rnd.randint(1, 120 if big else 24)
        self.serial = 0
        self.members = []
        for _ in range(rnd.randint(10, 40) if big else rnd.randint(1, 7)):
            self.join()
        self.generation = rnd.randint(1, 50)
        if self.assignor == "cooperative-sticky":
            self.invent_owners()

    def join(self):
        m = Member(self.rnd, self.serial)
        self.serial += 1
        names = sorted(self.topics)
        if self.equal:
            m.topics = names
        else:
            m.topics = sorted(self.rnd.sample(names, self.rnd.randint(1, len(names))))
        self.members.append(m)

    def invent_owners(self):
        rnd = self.rnd
        for t, n in self.topics.items():
            for p in range(n):
                if rnd.random() < 0.4:
                    continue
                claimants = rnd.sample(self.members, min(len(self.members), 2 if rnd.random() < 0.07 else 1))
                for m in claimants:
                    m.owned.append((t, p))
        for m in self.members:
            m.gen = rnd.choice([-1, self.generation - 1, self.generation, self.generation])
            if rnd.random() < 0.05 and m.owned:
                m.owned.append(m.owned[0])  # listed twice

    def evolve(self, got):
        """The next rebalance: what each member was assigned, then changes."""
        rnd = self.rnd
        for m in self.members:
            m.owned = got.get(m.id, [])
            m.gen = self.generation
        self.generation += 1
        r = rnd.random()
        if r < 0.3:
            for _ in range(rnd.randint(1, 2)):
                self.join()
        elif r < 0.5 and len(self.members) > 1:
            self.members.pop(rnd.randrange(len(self.members)))
        elif r < 0.6:
            t = rnd.choice(sorted(self.topics))
            self.topics[t] += rnd.randint(1, 6)
        elif r < 0.65:
            rnd.shuffle(self.members)  # another JoinGroup order
        # A member that lost nothing keeps its generation; the others
        # come back in this one (with cooperative-sticky, after revoking).

    def scenario(self, rnd_round):
        lines = ["scenario %s-r%d %s" % (self.name, rnd_round, self.assignor)]
        for t in sorted(self.topics):
            lines.append("topic %s %d" % (t, self.topics[t]))
        for m in self.members:
            if m.mode == "sub":
                gen, user = m.gen, str(m.gen)
            elif m.mode == "user":
                gen, user = -1, str(m.gen)
            else:
                gen, user = -1, "-"
            owned = ",".join("%s:%d" % tp for tp in m.owned) if self.assignor == "cooperative-sticky" else ""
            lines.append("member %s %s %d %s %s %s" % (
                m.id, m.inst or "-", gen, user, ",".join(m.topics), owned or "-"))
        lines.append("end")
        return "\n".join(lines) + "\n"


def parse(out):
    """{scenario: (error or None, {member: [(topic, p), ...]}, [member lines])}"""
    res = {}
    cur = None
    for line in out.splitlines():
        f = line.split(" ", 2)
        if f[0] == "scenario":
            cur = f[1]
            res[cur] = [None, {}, []]
        elif f[0] == "error":
            res[cur][0] = line
        elif f[0] == "member":
            tps = [] if f[2] == "-" else [(x.rsplit(":", 1)[0], int(x.rsplit(":", 1)[1])) for x in f[2].split(",")]
            res[cur][1][f[1]] = tps
            res[cur][2].append(line)
    return res


def validate(g, got):
    """Problems with a cooperative-sticky assignment (empty when valid)."""
    bad = []
    listed = {}
    for m in g.members:
        for tp in set(m.owned):
            listed.setdefault(tp, set()).add(m.id)
    seen = {}
    subs = {m.id: set(m.topics) for m in g.members}
    for mid, tps in got.items():
        for t, p in tps:
            if t not in g.topics or p >= g.topics[t]:
                bad.append("%s got %s:%d, which does not exist" % (mid, t, p))
            elif t not in subs[mid]:
                bad.append("%s got %s:%d but does not subscribe to %s" % (mid, t, p, t))
            if (t, p) in seen:
                bad.append("%s:%d went to %s and %s" % (t, p, seen[(t, p)], mid))
            seen[(t, p)] = mid
            others = listed.get((t, p), set()) - {mid}
            if others and mid not in listed.get((t, p), set()):
                bad.append("%s:%d went to %s while %s still owns it" % (t, p, mid, sorted(others)))
    for t, n in g.topics.items():
        if not any(t in s for s in subs.values()):
            continue
        for p in range(n):
            if (t, p) not in seen and not listed.get((t, p)):
                bad.append("%s:%d went to nobody and nobody gives it up" % (t, p))
    return bad


def spread(got, members):
    counts = [len(got.get(m.id, [])) for m in members]
    return max(counts) - min(counts) if counts else 0


def moved(g, got):
    return sum(1 for m in g.members for tp in set(m.owned) if tp not in got.get(m.id, []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kf", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--groups", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()

    rnd = random.Random(a.seed)
    groups = [Group(rnd, i) for i in range(a.groups)]
    exact = general = failures = 0
    worse_balance = 0
    kf_moves = java_moves = 0
    for rno in range(a.rounds):
        text = "".join(g.scenario(rno) for g in groups)
        kf = subprocess.run([a.kf], input=text.encode(), capture_output=True, check=True).stdout.decode()
        java = subprocess.run([a.oracle, "assign"], input=text.encode(), capture_output=True, check=True).stdout.decode()
        kfr, jr = parse(kf), parse(java)
        for g in groups:
            name = "%s-r%d" % (g.name, rno)
            k, j = kfr.get(name), jr.get(name)
            if k is None or j is None:
                print("FAIL %s: no answer (kf_assign %s, Java %s)" % (name, k is not None, j is not None))
                failures += 1
                continue
            eq = len({tuple(m.topics) for m in g.members}) == 1
            if g.assignor != "cooperative-sticky" or eq:
                exact += 1
                if k[0] != j[0] or k[2] != j[2]:
                    failures += 1
                    print("FAIL %s (%s): kfork and Java differ" % (name, g.assignor))
                    print(g.scenario(rno), end="")
                    print("  kfork: %s" % (k[0] or "\n         ".join(k[2])))
                    print("  Java:  %s" % (j[0] or "\n         ".join(j[2])))
            else:
                general += 1
                bad = validate(g, k[1]) if not k[0] else [k[0]]
                if bad:
                    failures += 1
                    print("FAIL %s (cooperative-sticky, different subscriptions): %s" % (name, "; ".join(bad[:5])))
                    print(g.scenario(rno), end="")
                if not j[0]:
                    worse_balance += spread(k[1], g.members) > spread(j[1], g.members)
                    kf_moves += moved(g, k[1])
                    java_moves += moved(g, j[1])
            g.evolve(k[1])
    print("assignor-diff: %d rounds of %d groups (seed %d): %d assignments compared exactly with Java's, "
          "%d checked for validity (different subscriptions); %d failed" %
          (a.rounds, a.groups, a.seed, exact, general, failures))
    if general:
        print("assignor-diff: different subscriptions (counted after leaving out the partitions in transfer): "
              "kfork less balanced than Java in %d of %d; "
              "partitions taken from their owner: kfork %d, Java %d" % (worse_balance, general, kf_moves, java_moves))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
