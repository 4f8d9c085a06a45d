#!/usr/bin/env python3
"""bench/make_shard.py -- write a token shard of uniformly random tokens for
ftc's `shards(...)` data source (the benchmark's input, vocab 50257).

One idea: the shard format is tiny and fixed (runtime/ftrt.h): little-endian
8 bytes "FTCSHARD", u32 version 1, u32 bytes per token (2 = uint16, 4 =
uint32), u64 token count, 8 reserved zero bytes, then the tokens. Writing it
here with the standard library only means the benchmark needs no tokenizer
and no download. Written to a temp file and renamed, so a half-written shard
is never left under the final name.

usage: make_shard.py OUT.bin [--vocab 50257] [--tokens 1048576] [--seed 1337]
"""
import argparse
import array
import os
import random
import struct
import sys


def main():
    p = argparse.ArgumentParser(description="random-token shard for ftc benchmarks")
    p.add_argument("out")
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--tokens", type=int, default=1 << 20)
    p.add_argument("--seed", type=int, default=1337)
    a = p.parse_args()
    if a.vocab < 1 or a.vocab > 1 << 32 or a.tokens < 1:
        sys.exit("make_shard.py: bad --vocab or --tokens")
    elem = 2 if a.vocab <= 1 << 16 else 4
    rng = random.Random(a.seed)
    toks = array.array("H" if elem == 2 else "I",
                       (rng.randrange(a.vocab) for _ in range(a.tokens)))
    if sys.byteorder != "little":
        toks.byteswap()
    tmp = a.out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(b"FTCSHARD" + struct.pack("<IIQ8x", 1, elem, a.tokens))
            toks.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.out)
    except OSError as e:
        sys.exit(f"make_shard.py: {e.filename or a.out}: {e.strerror}")
    print(f"{a.out}: {a.tokens} random tokens < {a.vocab}, {elem} bytes each, seed {a.seed}")


if __name__ == "__main__":
    main()
