#!/usr/bin/env python3
"""bench/report.py -- the bookkeeping half of bench/cpu_gpt2.sh.

  report.py ftc METRICS.jsonl --warmup W --batch B --seq T --rss-kb K [--label L]
                              [--profile LOG]
      turns an ftc trainer's DIR/metrics.jsonl (one object per step with
      `tokens_per_s`) plus the peak RSS that /usr/bin/time measured into one
      JSON line shaped like bench/torch_gpt2.py's (median after warm-up);
      with the trainer's FTC_PROFILE table in LOG, also the fused
      attention's GFLOP/s and share of the profiled time, and matmul's.
  report.py record SHAPE PEER LOG [--round N]
      tags the runner's JSON line on stdin with shape, peer and round (or,
      when there is none, makes an error line from LOG's last line) and
      prints it.
  report.py table RESULTS.jsonl
      prints the side-by-side table: per shape, every peer's tokens/s, ms/step
      and peak RSS (medians over the rounds), and ftc's ratio to it (the
      median of the per-round ratios, and their range).

One idea: every runner emits the same JSON line (shape keys + tokens_per_s +
peak_rss_mb), so the table is a join on the shape (and round) and the
ratios are ftc / peer for speed and peer / ftc for memory (both > 1 = ftc
better). Standard library only: it runs under any python3.
"""
import argparse
import json
import re
import statistics
import sys


PROFILE_ROW = re.compile(r"^(\S.*?)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9]+)(?:\s+([0-9.]+))?\s*$")


def profile_of(path):
    """{op: (seconds, GFLOP/s or None)} from the FTC_PROFILE op table in a
    log (rows: op, seconds, %, calls[, GFLOP/s]; a blank line ends it)."""
    ops, inside = {}, False
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.split()[:2] == ["op", "seconds"]:
                    inside, ops = True, {}
                    continue
                m = PROFILE_ROW.match(line.rstrip("\n")) if inside else None
                if not m:
                    inside = False
                    continue
                g = m.group(5)
                ops[m.group(1)] = (float(m.group(2)), float(g) if g else None)
    except OSError:
        pass
    return ops


def attention_of(ops):
    """The fused attention's GFLOP/s (flops over seconds of forward and
    backward together), its share of all profiled seconds, and matmul's
    GFLOP/s; None where the profile has no such op."""
    total = sum(s for s, _ in ops.values())
    att = [ops[k] for k in ("flash_attention", "flash_attention_bwd") if k in ops]
    out = {}
    if att and all(g is not None for _, g in att):
        secs = sum(s for s, _ in att)
        out["attn_gflops"] = round(sum(s * g for s, g in att) / secs, 1) if secs else None
        out["attn_share"] = round(secs / total, 3) if total else None
    if ops.get("matmul") and ops["matmul"][1] is not None:
        out["matmul_gflops"] = ops["matmul"][1]
    return out


def ftc_line(a):
    rates = []
    try:
        with open(a.metrics) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    sys.exit(f"report.py: {a.metrics}:{n}: not JSON")
                if "tokens_per_s" in obj and "val_loss" not in obj:
                    rates.append(float(obj["tokens_per_s"]))
    except OSError as e:
        sys.exit(f"report.py: {a.metrics}: {e.strerror}")
    timed = rates[a.warmup:]
    if not timed:
        sys.exit(f"report.py: {a.metrics}: {len(rates)} step lines, none after "
                 f"{a.warmup} warm-up steps")
    tps = statistics.median(timed)
    out = {"peer": a.label, "tokens_per_s": round(tps, 1),
           "ms_per_step": round(a.batch * a.seq / tps * 1000, 1),
           "tokens_per_s_steps": [round(r, 1) for r in timed],
           "warmup": a.warmup, "steps": len(timed),
           "peak_rss_mb": round(a.rss_kb / 1024.0, 1) if a.rss_kb > 0 else None}
    if a.cpu_util is not None:
        out["cpu_util"] = round(a.cpu_util, 2)
    if a.profile:
        out.update(attention_of(profile_of(a.profile)))
    print(json.dumps(out))


def record(a):
    line = sys.stdin.readline().strip()
    try:
        d = json.loads(line)
    except ValueError:
        tail = ""
        try:
            with open(a.log, errors="replace") as f:
                lines = [x.strip() for x in f if x.strip()]
            tail = lines[-1] if lines else ""
        except OSError:
            pass
        d = {"error": tail or "no result"}
    d.update(shape=a.shape, peer=a.peer, round=a.round)
    try:  # how busy the machine was over the last minute of this run
        with open("/proc/loadavg") as f:
            d["loadavg_1m"] = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    print(json.dumps(d))
    if "error" in d:
        print(f"  {a.peer}: unavailable: {d['error']}  (log: {a.log})", file=sys.stderr)
    else:
        print(f"  {a.peer}: {d['tokens_per_s']} tok/s, {d['ms_per_step']} ms/step, "
              f"peak RSS {d.get('peak_rss_mb')} MiB", file=sys.stderr)


def fmt(v, spec, unit=""):
    if isinstance(v, (int, float)):
        return format(v, spec) + unit
    return format("-", ">" + str(len(format(0.0, spec)) + len(unit)))


def best(r):
    """Tokens/s of the fastest timed step: on a shared machine the least
    disturbed one, so the closest to what the runner does alone."""
    if r.get("tokens_per_s_steps"):
        return max(r["tokens_per_s_steps"])
    if r.get("ms_steps"):
        return r["batch"] * r["seq"] / min(r["ms_steps"]) * 1000
    return None


def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


def table(a):
    rows = []
    with open(a.results) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    shapes, rounds = [], sorted({r.get("round", 1) for r in rows})
    for r in rows:
        if r.get("shape") not in shapes:
            shapes.append(r.get("shape"))
    head = (f"{'shape':<8} {'runner':<30} {'torch':<14} {'tok/s':>8} {'best':>8} "
            f"{'ms/step':>9} {'peak RSS MiB':>12} {'at import':>9} "
            f"{'ftc/peer tok/s':>20} {'peer/ftc RSS':>12} {'attn GF/s':>9} {'attn %':>6} "
            f"{'load':>5} {'cpu':>4}")
    print(head)
    print("-" * len(head))
    for shape in shapes:
        group = [r for r in rows if r.get("shape") == shape]
        peers = []
        for r in group:
            if r.get("peer") not in peers:
                peers.append(r.get("peer"))
        ftc = {r.get("round", 1): r for r in group
               if r.get("peer") == "ftc" and "tokens_per_s" in r}
        for peer in peers:
            runs = [r for r in group if r.get("peer") == peer and "tokens_per_s" in r]
            if not runs:
                why = next((r.get("error") for r in group if r.get("peer") == peer), "failed")
                print(f"{shape:<8} {peer:<30} unavailable: {why}")
                continue
            speed, mem = [], []
            for r in runs:  # ratios per round: ftc and the peer ran side by side
                f = ftc.get(r.get("round", 1))
                if f and peer != "ftc":
                    speed.append(f["tokens_per_s"] / r["tokens_per_s"])
                    if f.get("peak_rss_mb") and r.get("peak_rss_mb"):
                        mem.append(r["peak_rss_mb"] / f["peak_rss_mb"])
            sp = ""
            if speed:
                sp = f"{med(speed):.2f}x"
                if len(speed) > 1:
                    sp += f" ({min(speed):.2f}-{max(speed):.2f})"
            r0 = runs[0]
            print(f"{shape:<8} {peer:<30} {r0.get('torch', '-') or '-':<14} "
                  f"{fmt(med(r['tokens_per_s'] for r in runs), '8.1f')} "
                  f"{fmt(max(best(r) or 0 for r in runs), '8.1f')} "
                  f"{fmt(med(r.get('ms_per_step') for r in runs), '9.1f')} "
                  f"{fmt(med(r.get('peak_rss_mb') for r in runs), '12.1f')} "
                  f"{fmt(med(r.get('rss_after_import_mb') for r in runs), '9.1f')} "
                  f"{sp:>20} {fmt(med(mem), '11.2f', 'x')} "
                  f"{fmt(med(r.get('attn_gflops') for r in runs), '9.1f')} "
                  f"{fmt(med(100 * r['attn_share'] for r in runs if r.get('attn_share')), '6.1f')} "
                  f"{fmt(med(r.get('loadavg_1m') for r in runs), '5.1f')} "
                  f"{fmt(med(r.get('cpu_util') for r in runs), '4.1f')}")
        if not ftc:
            print(f"{shape:<8} (ftc unavailable for this shape: no ratios)")
    print(f"rounds: {len(rounds)}; every column is the median over them.")
    print("tok/s: median of the timed steps; best: the fastest timed step of any round.")
    print("at import: the peer's RSS after `import torch`, before the model "
          "(PyPI's CUDA build maps its CUDA libraries too).")
    print("ratios: ftc/peer tokens/s (range over the rounds) and peer/ftc peak RSS; "
          "> 1 means ftc is faster / smaller.")
    print("attn GF/s, attn %: ftc's fused attention (forward + backward) from its "
          "FTC_PROFILE table: GFLOP/s and share of the step.")
    print("load: the machine's 1-minute load average when the run ended "
          "(above the thread count = disturbed timings).")
    print("cpu: CPU seconds per wall second while timed (ftc: whole run); "
          "near the thread count when undisturbed.")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("ftc")
    f.add_argument("metrics")
    f.add_argument("--warmup", type=int, default=2)
    f.add_argument("--batch", type=int, required=True)
    f.add_argument("--seq", type=int, required=True)
    f.add_argument("--rss-kb", type=int, default=0)
    f.add_argument("--label", default="ftc")
    f.add_argument("--cpu-util", type=float, default=None,
                   help="(user+sys)/elapsed of the whole trainer run")
    f.add_argument("--profile", default=None,
                   help="the trainer's log with its FTC_PROFILE table")
    t = sub.add_parser("table")
    t.add_argument("results")
    r = sub.add_parser("record")
    r.add_argument("shape")
    r.add_argument("peer")
    r.add_argument("log")
    r.add_argument("--round", type=int, default=1)
    a = p.parse_args()
    {"ftc": ftc_line, "table": table, "record": record}[a.cmd](a)


if __name__ == "__main__":
    main()
