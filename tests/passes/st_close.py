"""tests/passes/st_close.py -- are two safetensors files equal to a tolerance?

  st_close.py A.safetensors B.safetensors RTOL [PREFIX]

Compares every tensor of B (F32 or F64; those whose name starts with PREFIX
when given) with the tensor of the same name in A, element by element:
|a - b| <= RTOL * |b| + RTOL * 1e-3 * max|B's tensor| (the floor keeps
rounding on near-zero elements of a large tensor from counting). Prints the
largest relative difference and the tensor it is in; exit 0 when all are
within RTOL, 1 otherwise. Python's standard library only (no numpy), so the
checks that use it run without the test virtualenv.
"""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        fmt = {"F32": "f", "F64": "d"}.get(t["dtype"])
        if fmt is None:
            continue
        b, e = t["data_offsets"]
        cnt = (e - b) // struct.calcsize(fmt)
        out[name] = struct.unpack("<%d%s" % (cnt, fmt), data[b:e])
    return out


def main():
    a, b, rtol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) > 4 else ""
    worst, where, bad, count = 0.0, "-", 0, 0
    for name, vb in sorted(b.items()):
        if not name.startswith(prefix):
            continue
        va = a.get(name)
        if va is None or len(va) != len(vb):
            print("%s: missing or of another size in %s" % (name, sys.argv[1]))
            bad += 1
            continue
        count += 1
        scale = max((abs(x) for x in vb), default=0.0)
        for x, y in zip(va, vb):
            d = abs(x - y)
            rel = d / abs(y) if y != 0 else (0.0 if d == 0 else float("inf"))
            if d > rtol * abs(y) + rtol * 1e-3 * scale:
                bad += 1
            if rel > worst and d > rtol * 1e-3 * scale:
                worst, where = rel, name
    print("%d tensors; max rel diff %.3g (%s); %d over %g" % (count, worst, where, bad, rtol))
    sys.exit(0 if bad == 0 and count > 0 else 1)


main()
