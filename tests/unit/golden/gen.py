#!/usr/bin/env python3
"""Golden Kafka wire vectors from Apache Kafka's JSON message definitions.

Independent of kfork's encoder: reads clients/src/main/resources/common/message
/*.json, builds sample messages and encodes them per the Kafka protocol rules.
Output: a C table (stdout) for tests/unit/test_golden.c.
"""
import json
import re
import sys

JSON_DIR = sys.argv[1] if len(sys.argv) > 1 else '/tmp/golden/json'

# api name, key, lowest version kfork speaks, highest
APIS = [
    ('ApiVersions', 18, 0, 4),
    ('Metadata', 3, 0, 13),
    ('FindCoordinator', 10, 0, 6),
    ('ListOffsets', 2, 1, 11),
    ('Fetch', 1, 4, 18),
    ('SaslHandshake', 17, 0, 1),
    ('SaslAuthenticate', 36, 0, 2),
    ('JoinGroup', 11, 0, 9),
    ('SyncGroup', 14, 0, 5),
    ('Heartbeat', 12, 0, 4),
    ('LeaveGroup', 13, 0, 5),
    ('OffsetFetch', 9, 1, 10),
    ('OffsetCommit', 8, 2, 10),
    ('ConsumerGroupHeartbeat', 68, 0, 1),
    ('ConsumerGroupDescribe', 69, 0, 1),
]

# Deliberate deviations from the JSON defaults.  ListOffsetsRequest
# ReplicaId has no JSON default (Java's would be 0); a consumer always sends
# -1 and kfork's schema defaults to that.
DEFAULT_OVERRIDES = {'ReplicaId@ListOffsetsRequest': '-1'}

PRIMS = {'bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64',
         'float64', 'uuid', 'string', 'bytes', 'records'}


def strip_comments(text):
    out, i, n, instr = [], 0, len(text), False
    while i < n:
        c = text[i]
        if instr:
            out.append(c)
            if c == '\\':
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                instr = False
        elif c == '"':
            instr = True
            out.append(c)
        elif text.startswith('//', i):
            while i < n and text[i] != '\n':
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    s = ''.join(out)
    return re.sub(r',(\s*[}\]])', r'\1', s)


def vrange(s):
    if s is None or s == 'none':
        return None
    s = s.strip()
    if s.endswith('+'):
        return (int(s[:-1]), 10**6)
    if '-' in s:
        a, b = s.split('-')
        return (int(a), int(b))
    return (int(s), int(s))


def vin(r, v):
    return r is not None and r[0] <= v <= r[1]


class Field:
    def __init__(self, d, msg, common=None):
        self.name = d['name']
        self.msg = msg
        t = d['type']
        self.is_array = t.startswith('[]')
        self.elem = t[2:] if self.is_array else t
        self.is_struct = self.elem not in PRIMS
        self.versions = vrange(d.get('versions'))
        self.nullable = vrange(d.get('nullableVersions'))
        self.tagged = vrange(d.get('taggedVersions'))
        self.tag = d.get('tag')
        self.default = d.get('default')
        common = common or {}
        # A struct type without fields of its own is one of the message's
        # commonStructs.
        self.fields = [Field(x, msg, common)
                       for x in d.get('fields', common.get(self.elem, []))]
        if self.is_struct:
            assert self.fields, self.name

    def present(self, v):
        return vin(self.versions, v)

    def is_tagged(self, v):
        return self.tag is not None and vin(self.tagged, v)

    def can_null(self, v):
        return vin(self.nullable, v)

    def int_default(self):
        d = DEFAULT_OVERRIDES.get(f'{self.name}@{self.msg}', self.default)
        if d is None or d == '':
            return 0
        if d in ('true', 'false'):
            return 1 if d == 'true' else 0
        if isinstance(d, int):
            return d
        return int(d, 0)


def load(name):
    with open(f'{JSON_DIR}/{name}.json') as f:
        d = json.loads(strip_comments(f.read()))
    common = {c['name']: c['fields'] for c in d.get('commonStructs', [])}
    return d, [Field(x, name, common) for x in d['fields']]


# ---------------------------------------------------------------- values

class Gen:
    """Deterministic distinctive values.  variant 'A': everything set and
    non-default, arrays of 2; 'B': nulls where allowed, tagged fields left
    at their defaults, empty strings/bytes, arrays of 1 (struct) or 0."""

    def __init__(self, seed):
        self.n = seed

    def nxt(self):
        self.n += 1
        return self.n


def scalar(g, t, variant, f):
    n = g.nxt()
    if t == 'bool':
        d = f.int_default() if f else 0
        return (1 - d) if variant == 'A' else d
    if t == 'int8':
        return (n % 90) + 5
    if t == 'int16':
        m = n % 0x700
        return 0x1100 + m if n % 2 else -(0x1200 + m)
    if t == 'uint16':
        return 0x8100 + n % 0x700
    if t == 'int32':
        return 0x01020304 + (n << 8) if n % 2 else -(0x05060708 + (n << 8))
    if t == 'uint32':
        return 0x80000000 + n
    if t == 'int64':
        return 0x0102030405060708 + (n << 16) if n % 2 else -(0x0807060504030201 + (n << 16))
    if t == 'uuid':
        return bytes(((n * 16 + i) * 7 + 1) & 0xff for i in range(16))
    if t == 'string':
        return f's{n}' if variant == 'A' else ''
    if t in ('bytes', 'records'):
        return bytes([n & 0xff, 0xa5, (n * 3) & 0xff]) if variant == 'A' else b''
    raise ValueError(t)


def default_value(f, v):
    """The value a field has when it is not sent (tagged) or not set."""
    if f.is_array:
        return []
    if f.is_struct:
        if f.default == 'null':
            return None
        return {x.name: default_value(x, v) for x in f.fields}
    t = f.elem
    if t == 'string':
        if f.default == 'null':
            return None
        # No default given: Java uses "", kfork's walker NULL (it has no
        # string defaults), which goes out as "" where the field is not
        # nullable.  Only matters where it is nullable: see the report.
        if f.default is None:
            return None if f.can_null(v) else ''
        return f.default
    if t == 'records':
        return None
    if t == 'bytes':
        return None if f.default == 'null' else b''
    if t == 'uuid':
        return bytes(16)
    return f.int_default()


def sample_struct(g, fields, v, variant, first=True):
    obj = {}
    for f in fields:
        if not f.present(v):
            continue
        if variant == 'D' and f.is_array and f.is_struct:
            # One element of defaults, as a new element object has.
            obj[f.name] = [sample_struct(g, f.fields, v, variant)]
            continue
        if variant == 'D' or (f.is_tagged(v) and variant == 'B'):
            obj[f.name] = default_value(f, v)
            continue
        obj[f.name] = sample_field(g, f, v, variant, first)
    return obj


def sample_field(g, f, v, variant, first=True):
    if variant == 'B' and f.can_null(v):
        return None
    if f.is_array:
        if variant == 'A':
            # Two elements under the first element of every enclosing array,
            # one elsewhere: every level is checked at index 1 without the
            # vector growing as 2^depth.
            cnt = 2 if first else 1
        else:
            cnt = 1 if f.is_struct else 0
        if f.is_struct:
            return [sample_struct(g, f.fields, v, variant, first and i == 0)
                    for i in range(cnt)]
        return [scalar(g, f.elem, 'A', None) for _ in range(cnt)]
    if f.is_struct:
        return sample_struct(g, f.fields, v, variant)
    val = scalar(g, f.elem, variant, f)
    return val


# ---------------------------------------------------------------- encoding

def uvarint(x):
    out = bytearray()
    while True:
        b = x & 0x7f
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Enc:
    def __init__(self, flex):
        self.flex = flex
        self.buf = bytearray()
        self.lens = []  # (offset, kind) of every length prefix

    def raw(self, b):
        self.buf += b

    def mark(self, kind):
        self.lens.append((len(self.buf), kind))

    def i(self, x, size):
        self.raw(x.to_bytes(size, 'big', signed=True))

    def length(self, n, wide):
        """n = -1 for null; wide: int32 (bytes, arrays) else int16."""
        if self.flex:
            self.mark('u')
            self.raw(uvarint(n + 1))
        elif wide:
            self.mark('i')
            self.i(n, 4)
        else:
            self.mark('h')
            self.i(n, 2)


def enc_scalar(e, t, val):
    if t == 'bool':
        e.raw(bytes([1 if val else 0]))
    elif t == 'int8':
        e.i(val, 1)
    elif t == 'int16':
        e.i(val, 2)
    elif t == 'uint16':
        e.raw(val.to_bytes(2, 'big'))
    elif t == 'int32':
        e.i(val, 4)
    elif t == 'uint32':
        e.raw(val.to_bytes(4, 'big'))
    elif t == 'int64':
        e.i(val, 8)
    elif t == 'uuid':
        assert len(val) == 16
        e.raw(val)
    elif t == 'string':
        if val is None:
            e.length(-1, False)
        else:
            b = val.encode()
            e.length(len(b), False)
            e.raw(b)
    elif t in ('bytes', 'records'):
        if val is None:
            e.length(-1, True)
        else:
            e.length(len(val), True)
            e.raw(val)
    else:
        raise ValueError(t)


def enc_field(e, f, v, val, unknown):
    if f.is_array:
        if val is None:
            e.length(-1, True)
            return
        e.length(len(val), True)
        for x in val:
            if f.is_struct:
                enc_struct(e, f.fields, v, x, unknown)
            else:
                enc_scalar(e, f.elem, x)
    elif f.is_struct:
        # A nullable struct: an int8 marker first, -1 null, 1 present.
        if f.can_null(v):
            e.raw(b'\xff' if val is None else b'\x01')
        if val is not None:
            enc_struct(e, f.fields, v, val, unknown)
    else:
        enc_scalar(e, f.elem, val)


def is_default(f, v, val):
    return val == default_value(f, v)


def unknown_tags(fields, v):
    used = {f.tag for f in fields if f.present(v) and f.is_tagged(v)}
    low = min(t for t in range(64) if t not in used)
    return [(low, b'\xde\xad'), (300, b'')]


def enc_struct(e, fields, v, obj, unknown):
    tagged = []
    for f in fields:
        if not f.present(v):
            continue
        if f.is_tagged(v):
            if not is_default(f, v, obj[f.name]):
                tagged.append(f)
            continue
        enc_field(e, f, v, obj[f.name], unknown)
    if not e.flex:
        return
    items = []
    for f in tagged:
        sub = Enc(True)
        enc_field(sub, f, v, obj[f.name], unknown)
        items.append((f.tag, sub))
    if unknown:
        for tag, data in unknown_tags(fields, v):
            sub = Enc(True)
            sub.raw(data)
            items.append((tag, sub))
    items.sort(key=lambda x: x[0])
    e.mark('u')
    e.raw(uvarint(len(items)))
    for tag, sub in items:
        e.raw(uvarint(tag))
        e.mark('u')
        e.raw(uvarint(len(sub.buf)))
        base = len(e.buf)
        e.lens += [(base + o, k) for o, k in sub.lens]
        e.raw(sub.buf)


# ---------------------------------------------------------------- assertions

def fmt(t, val):
    if val is None:
        return 'null'
    if t in ('bytes', 'records', 'uuid'):
        return val.hex()
    if t == 'string':
        return val
    return str(int(val))


def asserts_struct(fields, v, obj, prefix, out):
    for f in fields:
        if not f.present(v):
            continue
        p = prefix + f.name
        val = obj[f.name]
        if f.is_array:
            out.append(f'{p}#={-1 if val is None else len(val)}')
            for i, x in enumerate(val or []):
                if f.is_struct:
                    asserts_struct(f.fields, v, x, f'{p}[{i}].', out)
                else:
                    out.append(f'{p}[{i}]={fmt(f.elem, x)}')
        elif f.is_struct:
            if f.can_null(v):
                out.append(f'{p}=' + ('null' if val is None else '{}'))
            if val is not None:
                asserts_struct(f.fields, v, val, p + '.', out)
        else:
            out.append(f'{p}={fmt(f.elem, val)}')


# ---------------------------------------------------------------- frames

CLIENT_ID = 'golden'


def frame(api_key, v, is_req, flex, fields, obj, corr, variant):
    unknown = variant == 'U'
    e = Enc(flex)
    e.i(0, 4)  # size, patched below
    if is_req:
        e.i(api_key, 2)
        e.i(v, 2)
        e.i(corr, 4)
        cid = None if variant == 'B' else CLIENT_ID
        # ClientId: int16 length even in header v2.
        if cid is None:
            e.i(-1, 2)
        else:
            e.i(len(cid), 2)
            e.raw(cid.encode())
        if flex:
            if unknown:
                e.raw(uvarint(1) + uvarint(5) + uvarint(1) + b'\x00')
            else:
                e.raw(uvarint(0))
    else:
        e.i(corr, 4)
        # ApiVersions responses always use header v0 (KIP-511).
        if flex and api_key != 18:
            if unknown:
                e.mark('u')
                e.raw(uvarint(1) + uvarint(7))
                e.mark('u')
                e.raw(uvarint(2) + b'\xbe\xef')
            else:
                e.mark('u')
                e.raw(uvarint(0))
    enc_struct(e, fields, v, obj, unknown)
    e.buf[0:4] = (len(e.buf) - 4).to_bytes(4, 'big')
    return bytes(e.buf), e.lens


def c_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def main():
    vectors = []  # dicts
    for name, key, vlo, vhi in APIS:
        for is_req in (1, 0):
            d, fields = load(name + ('Request' if is_req else 'Response'))
            valid = vrange(d['validVersions'])
            flexr = vrange(d['flexibleVersions'])
            assert valid[0] <= vlo and vhi <= valid[1], (name, valid)
            for v in range(vlo, vhi + 1):
                flex = vin(flexr, v)
                a_index = None
                for variant in ('A', 'B', 'U', 'D'):
                    if variant == 'U' and not flex:
                        continue
                    if variant == 'D' and not is_req:
                        continue  # responses are only decoded: defaults moot
                    seed = key * 1000 + v * 40 + (0 if variant != 'B' else 20)
                    g = Gen(seed)
                    obj = sample_struct(g, fields, v, 'A' if variant == 'U' else variant)
                    corr = 0x0a000000 + key * 0x10000 + v * 0x100 + is_req
                    buf, lens = frame(key, v, is_req, flex, fields, obj, corr, variant)
                    al = []
                    asserts_struct(fields, v, obj, '', al)
                    vec = dict(api=key, name=name, ver=v, req=is_req, variant=variant,
                               corr=corr, hex=buf.hex(), lens=lens, asserts=al,
                               flex=flex)
                    if variant == 'A':
                        a_index = len(vectors)
                    vec['canon'] = a_index if variant == 'U' else -1
                    vectors.append(vec)
    emit(vectors)


def wrap_hex(h, indent='\t  '):
    parts = [h[i:i + 64] for i in range(0, len(h), 64)] or ['']
    return ('\n' + indent).join(f'"{p}"' for p in parts)


def wrap_words(s, width=80, indent='\t  '):
    lines, cur = [], ''
    for w in s.split(' '):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur + ' ')
            cur = w
        else:
            cur = f'{cur} {w}' if cur else w
    lines.append(cur)
    return ('\n' + indent).join(f'"{x}"' for x in lines)


def emit(vectors):
    o = sys.stdout
    o.write('/* ---- generated vectors begin (do not edit by hand) ---- */\n\n')
    # Assertion lists: U vectors share A's.
    for i, vec in enumerate(vectors):
        if vec['variant'] == 'U':
            continue
        o.write(f'/* {i}: {vec["name"]} v{vec["ver"]} '
                f'{"request" if vec["req"] else "response"} {vec["variant"]} */\n')
        o.write(f'static const char *const golden_a{i}[] = {{\n')
        for a in vec['asserts']:
            o.write(f'\t{c_str(a)},\n')
        o.write('\tNULL,\n};\n')
    o.write('\nstatic const struct golden golden_vectors[] = {\n')
    for i, vec in enumerate(vectors):
        ai = vec['canon'] if vec['variant'] == 'U' else i
        lens = ' '.join(f'{off}{k}' for off, k in vec['lens'])
        o.write(f'\t/* {i}: {vec["name"]} v{vec["ver"]} '
                f'{"request" if vec["req"] else "response"} {vec["variant"]} */\n')
        o.write(f'\t{{ {vec["api"]}, {vec["ver"]}, {vec["req"]}, \'{vec["variant"]}\', '
                f'{vec["canon"]}, 0x{vec["corr"]:08x},\n')
        o.write(f'\t  {wrap_hex(vec["hex"])},\n')
        o.write(f'\t  {wrap_words(lens)},\n')
        o.write(f'\t  golden_a{ai} }},\n')
    o.write('};\n\n/* ---- generated vectors end ---- */\n')
    # Summary on stderr.
    from collections import Counter
    c = Counter((v['name'], v['req']) for v in vectors)
    for (n, r), k in sorted(c.items()):
        print(f'{n} {"req" if r else "resp"}: {k}', file=sys.stderr)
    print(f'total {len(vectors)}', file=sys.stderr)


if __name__ == '__main__':
    main()
