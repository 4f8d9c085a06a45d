"""tests/tokenizer/tok_ref.py -- the `tokenizers` library's side of
tests/tokenizer/run.sh.

  tok_ref.py make DIR    trains small tokenizers of each kind on the Debian
                         fortunes and writes, for each, DIR/K.json plus the
                         library's ids and decodes of the test texts
  tok_ref.py bench TOKENIZER.json FILE THREADS REPEAT
                         MB/s of the library's encode_batch over FILE's lines

The kinds: GPT-2 (ByteLevel with its regex), LLaMA-3 (Split with the
LLaMA-3 pattern + ByteLevel, ignore_merges), LLaMA-2 legacy (Prepend/Replace
normalizer, byte fallback, <0xXX> tokens, TemplateProcessing with <s>),
LLaMA-2 Metaspace (the newer conversion), and variants of the split
behaviours and normalizers on top of their vocabularies. Every one has added
tokens, special and not, with lstrip/rstrip/normalized/single_word set.

Texts (DIR/texts.bin, one per line): every fortune line, then random UTF-8
(all scripts and planes, every \\s character, emoji sequences, digits of
other scripts, contractions with odd letters), invalid bytes, long
whitespace runs and every added token in context. The library gets each
line decoded with errors="replace", which is what ftc does to invalid bytes.
"""
import glob
import json
import os
import random
import sys
import time

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, processors, trainers)

FORTUNES = "/usr/share/games/fortunes"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPACES = "\t\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200b)) + \
    "\u2028\u2029\u202f\u205f\u3000"


def fortune_files():
    return sorted(f for f in glob.glob(FORTUNES + "/*")
                  if "." not in os.path.basename(f) and os.path.isfile(f))


def added(tok, with_normalized):
    """Added tokens of every flavour (ids after the trained vocabulary)."""
    toks = [AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=False),
            AddedToken("[SEP]", rstrip=True, normalized=False, special=True),
            AddedToken("zz", single_word=True, normalized=False),
            AddedToken("<|im_start|>", normalized=False, special=True),
            AddedToken("<|im_end|>", normalized=False, special=True)]
    if with_normalized:
        toks.append(AddedToken(" magic word", normalized=True))
    tok.add_tokens(toks)


def train_gpt2(files):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    t.train(files, trainers.BpeTrainer(vocab_size=2048, special_tokens=["<|endoftext|>"],
                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                       show_progress=False))
    added(t, True)
    return t


def train_llama3(files):
    t = Tokenizer(models.BPE(ignore_merges=True))
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    t.train(files, trainers.BpeTrainer(vocab_size=4096,
                                       special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                       show_progress=False))
    t.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)])
    added(t, True)
    return t


def train_llama2(files, metaspace):
    """SentencePiece-style BPE: no pre-tokenization (a line is one word),
    spaces as U+2581, byte fallback to <0x00>..<0xFF> vocabulary tokens."""
    t = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    if metaspace:
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first",
                                                   split=False)
    else:
        t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                             normalizers.Replace(" ", "\u2581")])
    t.train(files, trainers.BpeTrainer(vocab_size=2048, special_tokens=["<unk>", "<s>", "</s>"],
                                       limit_alphabet=300, show_progress=False))
    d = json.loads(t.to_str())
    vocab = d["model"]["vocab"]
    # LLaMA-2's layout: <unk> <s> </s>, the 256 byte tokens, then the rest
    order = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + \
        [k for k, _ in sorted(vocab.items(), key=lambda kv: kv[1])
         if k not in ("<unk>", "<s>", "</s>")]
    d["model"]["vocab"] = {k: i for i, k in enumerate(order)}
    for a in d["added_tokens"]:
        a["id"] = d["model"]["vocab"][a["content"]]
    if metaspace:
        d["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                        "split": False}
    else:
        d["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    d["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    t = Tokenizer.from_str(json.dumps(d))
    added(t, True)
    return t


def variants(base, base2):
    """Split behaviours, inverted patterns, String patterns and more
    normalizers over trained vocabularies (ids need not be good, only
    equal)."""
    out = {}
    d = json.loads(base.to_str())
    for beh in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for inv in (False, True):
            v = json.loads(json.dumps(d))
            v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": r"[\s\p{N}]|ab+|(?i:x)"}, "behavior": beh,
                 "invert": inv},
                {"type": "ByteLevel", "add_prefix_space": inv, "trim_offsets": True,
                 "use_regex": beh == "Isolated"}]}
            out["split_%s%s" % (beh.lower(), "_inv" if inv else "")] = v
    v = json.loads(json.dumps(d))
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "e"}, "behavior": "MergedWithPrevious",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    out["split_string"] = v
    d2 = json.loads(base2.to_str())
    v = json.loads(json.dumps(d2))
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    out["norm_regex"] = v
    v = json.loads(json.dumps(d2))
    v["normalizer"] = None
    v["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                          "split": True}
    v["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                    "split": True}
    out["metaspace_split"] = v
    return {k: Tokenizer.from_str(json.dumps(v)) for k, v in out.items()}


def random_lines(rng, added_tokens):
    """Adversarial text, one line each (no newline inside)."""
    pools = [
        lambda: rng.choice(["the", "The", "THE", "don't", "it's", "I'M", "we'RE", "they'Ve",
                            "'ll", "'D", "'\u017f", "'\u212a", "hello", "world", "x", "abbb",
                            "Hello,", "(test)", "e-mail", "x86_64", "3.14159", "1,000,000",
                            "__init__", "#!/bin/sh", "C++", "a.b.c", "!!!", "...", "--", "\u00e9t\u00e9",
                            "na\u00efve", "Stra\u00dfe", "\u0130stanbul"]),
        lambda: "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 6))),
        lambda: rng.choice(["\u4f60\u597d\u4e16\u754c", "\u65e5\u672c\u8a9e", "\ud55c\uad6d\uc5b4",
                            "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947",
                            "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439",
                            "\u03b1\u03b2\u03b3", "\u05e9\u05dc\u05d5\u05dd", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"]),
        lambda: rng.choice(["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
                            "\U0001F1EB\U0001F1F7", "\u2764\ufe0f", "1\ufe0f\u20e3", "\U0001F9D1\u200d\U0001F4BB",
                            "\U0001FAE0", "\u263a"]),
        lambda: rng.choice(["\u0663\u0664", "\uff13\uff14\uff15", "\u00b2\u00b3", "\u216b", "\u00bd",
                            "12345678", "0", "\u0966\u0967", "\U0001D7CE"]),
        lambda: "".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2ff),
                                        rng.randint(0x300, 0x36f), rng.randint(0x370, 0x1fff),
                                        rng.randint(0x2000, 0x2bff), rng.randint(0x3000, 0xd7ff),
                                        rng.randint(0xe000, 0xffff), rng.randint(0x10000, 0x2ffff),
                                        rng.randint(0xe0000, 0x10ffff)])) for _ in range(rng.randint(1, 8)))
        .replace("\n", " ").replace("\x85", "\x85"),
        lambda: rng.choice(added_tokens) if added_tokens else "<x>",
    ]
    out = []
    for _ in range(3000):
        n = rng.randint(1, 30)
        parts = []
        for _ in range(n):
            s = rng.choice(pools)()
            parts.append(s)
            if rng.random() < 0.5:
                parts.append(" ")
        out.append("".join(parts).replace("\n", " ").encode("utf-8", "surrogatepass"))
    # long whitespace runs and edges
    for ch in [" ", "\t", "\r", "\u3000", "\xa0", " \t"]:
        for k in (1, 2, 3, 17, 300, 2000):
            out.append(("a" + ch * k + "b").encode())
            out.append((ch * k).encode())
            out.append((ch * k + "x").encode())
    # every added token alone, glued, spaced and repeated
    for a in added_tokens:
        for fmt in ["%s", " %s", "%s ", "  %s  ", "x%sy", "x %s y", "%s%s", "zz%s", "%szz",
                    "hello%s world", "%s\t\tx"]:
            out.append((fmt % ((a, a) if fmt.count("%s") == 2 else a)).encode())
    out += [b"", b" ", b"zz", b"a zz b", b"azz", b"zz b", b"_zz", b"zz_", b"1zz", b"\xc3\xa9zz"]
    # invalid UTF-8
    bad = [b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf5\x80",
           b"\x80\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"a\xffb", b"\xfe\xfe"]
    for _ in range(500):
        line = b"".join(rng.choice(bad + [b"x", b" ", b"\xc3\xa9", "\u4f60".encode()])
                        for _ in range(rng.randint(1, 12)))
        out.append(line)
    for _ in range(200):
        out.append(bytes(rng.choice([b for b in range(256) if b != 10])
                         for _ in range(rng.randint(1, 40))))
    return out


def reference(tok, lines, name, d):
    texts = [l.decode("utf-8", errors="replace") for l in lines]
    for special, tag in ((True, ""), (False, ".raw")):
        encs = tok.encode_batch(texts, add_special_tokens=special)
        with open(os.path.join(d, name + tag + ".ids"), "w") as f:
            for e in encs:
                f.write(" ".join(map(str, e.ids)) + "\n")
        if special:
            decs = tok.decode_batch([e.ids for e in encs])
            with open(os.path.join(d, name + ".dec"), "wb") as f:
                for s in decs:
                    f.write(s.encode("utf-8", "surrogatepass") + b"\n")


def cmd_make(d):
    files = fortune_files()
    if not files:
        sys.exit("no fortunes in " + FORTUNES)
    rng = random.Random(16)
    fort = []
    for fn in files:
        fort += open(fn, "rb").read().split(b"\n")
    # SentencePiece-style training sees whole lines as words: a third of
    # the files keeps it quick
    toks = {"gpt2": train_gpt2(files), "llama3": train_llama3(files),
            "llama2": train_llama2(files[::3], False),
            "llama2_metaspace": train_llama2(files[::3], True)}
    names = sorted({a.content for t in toks.values() for a in t.get_added_tokens_decoder().values()})
    rand = random_lines(rng, names)
    lines = fort + rand
    with open(os.path.join(d, "texts.bin"), "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    # without added tokens (lstrip/rstrip ones eat spaces), for round trips
    plain = fort + random_lines(rng, [])
    with open(os.path.join(d, "plain.bin"), "wb") as f:
        f.write(b"\n".join(plain) + b"\n")
    with open(os.path.join(d, "plain.fixed"), "wb") as f:
        f.write("\n".join(l.decode("utf-8", errors="replace") for l in plain).encode() + b"\n")
    small = fort[:3000] + rand
    with open(os.path.join(d, "small.bin"), "wb") as f:
        f.write(b"\n".join(small) + b"\n")
    for k, t in toks.items():
        t.save(os.path.join(d, k + ".json"))
        reference(t, lines, k, d)
    more = variants(toks["gpt2"], toks["llama2"])
    for k, t in more.items():
        t.save(os.path.join(d, k + ".json"))
        reference(t, small, k, d)
    print(" ".join(list(toks) + list(more)))


def cmd_bench(path, data, threads, repeat):
    os.environ["RAYON_NUM_THREADS"] = threads
    tok = Tokenizer.from_file(path)
    raw = open(data, "rb").read()
    lines = raw.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    best = 1e9
    for _ in range(int(repeat)):
        t0 = time.perf_counter()
        tok.encode_batch(lines)
        best = min(best, time.perf_counter() - t0)
    print("%.3f" % (len(raw) / best / 1e6))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        cmd_make(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "bench":
        cmd_bench(*sys.argv[2:])
    else:
        sys.exit(__doc__)
