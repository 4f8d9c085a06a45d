#!/usr/bin/env python3
"""tests/integrity/stfile.py -- damage safetensors files the way disks and
people do, for tests/integrity and tests/faults (plain python3, no packages).

  stfile.py flip FILE TENSOR [BYTE]   flip one bit of TENSOR's data in place
                                      (same inode: hard links see it too)
  stfile.py flip-meta FILE KEY        change one character of a metadata value
  stfile.py strip FILE OUT            rewrite without the ftrt.crc32c* keys,
                                      as a tool that drops unknown metadata would
  stfile.py poison IN OUT TENSOR      OUT = IN without checksums and with every
                                      value of the F32 TENSOR NaN (a bad init)
  stfile.py first FILE                name of the first tensor in file order
"""
import json
import struct
import sys


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return n, json.loads(f.read(n))


def main(argv):
    cmd, path = argv[1], argv[2]
    n, h = header(path)
    if cmd == "flip":
        t = h[argv[3]]
        b0, b1 = t["data_offsets"]
        at = 8 + n + b0 + (int(argv[4]) if len(argv) > 4 else (b1 - b0) // 2)
        with open(path, "r+b") as f:
            f.seek(at)
            c = f.read(1)[0]
            f.seek(at)
            f.write(bytes([c ^ 0x04]))
    elif cmd == "flip-meta":
        meta = h["__metadata__"]
        v = meta[argv[3]]
        with open(path, "r+b") as f:
            raw = f.read(8 + n)
            key = json.dumps(argv[3]).encode() + b":" + json.dumps(v).encode()
            at = raw.index(key) + len(key) - 2  # last character of the value
            f.seek(at)
            f.write(bytes([raw[at] ^ 0x01]))
    elif cmd in ("strip", "poison"):
        meta = {k: v for k, v in h["__metadata__"].items() if not k.startswith("ftrt.crc32c")}
        h["__metadata__"] = meta
        text = json.dumps(h, separators=(",", ":")).encode()
        text += b" " * (-(8 + len(text)) % 8)
        with open(path, "rb") as f:
            f.seek(8 + n)
            data = bytearray(f.read())
        if cmd == "poison":
            b0, b1 = h[argv[4]]["data_offsets"]
            data[b0:b1] = struct.pack("<f", float("nan")) * ((b1 - b0) // 4)
        with open(argv[3], "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + data)
    elif cmd == "first":
        names = [k for k in h if k != "__metadata__"]
        print(min(names, key=lambda k: h[k]["data_offsets"][0]))
    else:
        sys.exit("stfile.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
