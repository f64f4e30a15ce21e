#!/usr/bin/env python3
"""Small socket helpers for tests/kafka/lib.sh; starting a JVM for these
would cost seconds each time.

  probe.py free-ports COUNT      print COUNT distinct free TCP ports on
                                 127.0.0.1, one a line, below the range of
                                 ephemeral ports when possible
  probe.py brokers N HOST:PORT.. exit 0 when every PLAINTEXT listener given
                                 answers a Metadata request listing at least
                                 N live brokers, else 1 (the reason on stderr)
  probe.py listening HOST:PORT.. print the ones that accept a connection;
                                 exit 0 when none does
  probe.py zk-ephemeral HOST:PORT PATH
                                 exit 0 when ZooKeeper at HOST:PORT holds the
                                 ephemeral node PATH (its "dump" command),
                                 1 when it does not, 2 on error
"""

import random
import socket
import struct
import sys


def free_ports(count):
    """Ports below the ephemeral range when there is room: the kernel gives
    ports of that range to outgoing connections, and one could take a port
    between our check and the broker's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    rng = random.SystemRandom()
    # Hold every socket open until all are bound so the ports differ.
    socks = []
    try:
        tries = 0
        while len(socks) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tries += 1
            port = rng.randrange(10000, low) if low > 11000 and tries < 1000 else 0
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def metadata_brokers(addr):
    """Live broker ids that the broker at addr reports (Metadata v4: every
    release from 1.0 to 4.x serves it)."""
    client = b"kfork-probe"
    header = struct.pack(">hhih", 3, 4, 1, len(client)) + client
    # no topics (empty array), allow_auto_topic_creation=false
    body = struct.pack(">ib", 0, 0)
    req = header + body
    with socket.create_connection(split_addr(addr), timeout=2) as s:
        s.settimeout(5)
        s.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        resp = recv_exact(s, size)
    # correlation id, throttle time, then the broker array
    corr, _throttle, count = struct.unpack_from(">iii", resp, 0)
    if corr != 1:
        raise ValueError("bad correlation id %d" % corr)
    pos = 12
    ids = []
    for _ in range(count):
        node_id, hlen = struct.unpack_from(">ih", resp, pos)
        pos += 6 + hlen + 4  # host, port
        rlen = struct.unpack_from(">h", resp, pos)[0]
        pos += 2 + max(rlen, 0)  # nullable rack
        ids.append(node_id)
    return ids


def brokers(want, addrs):
    ok = True
    for addr in addrs:
        try:
            ids = metadata_brokers(addr)
        except (OSError, ValueError, struct.error) as e:
            print("%s: %s" % (addr, e), file=sys.stderr)
            ok = False
            continue
        if len(ids) < want:
            print("%s: sees brokers %s, want %d" % (addr, sorted(ids), want),
                  file=sys.stderr)
            ok = False
    return 0 if ok else 1


def listening(addrs):
    found = 0
    for addr in addrs:
        try:
            with socket.create_connection(split_addr(addr), timeout=1):
                print(addr)
                found += 1
        except OSError:
            pass
    return 1 if found else 0


def zk_ephemeral(addr, path):
    try:
        with socket.create_connection(split_addr(addr), timeout=2) as s:
            s.settimeout(5)
            s.sendall(b"dump")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
    except OSError as e:
        print("%s: %s" % (addr, e), file=sys.stderr)
        return 2
    text = out.decode("utf-8", "replace")
    if "not executed" in text or "not in the whitelist" in text:
        print("%s: %s" % (addr, text.strip()), file=sys.stderr)
        return 2
    return 0 if any(line.strip() == path for line in text.splitlines()) else 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "free-ports":
        free_ports(int(argv[1]))
        return 0
    if len(argv) >= 3 and argv[0] == "brokers":
        return brokers(int(argv[1]), argv[2:])
    if len(argv) >= 2 and argv[0] == "listening":
        return listening(argv[1:])
    if len(argv) == 3 and argv[0] == "zk-ephemeral":
        return zk_ephemeral(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
