#!/usr/bin/env python3
"""bench/report.py -- the bookkeeping half of bench/cpu_gpt2.sh.

  report.py ftc METRICS.jsonl --warmup W --batch B --seq T --rss-kb K [--label L]
      turns an ftc trainer's DIR/metrics.jsonl (one object per step with
      `tokens_per_s`) plus the peak RSS that /usr/bin/time measured into one
      JSON line shaped like bench/torch_gpt2.py's (median after warm-up).
  report.py record SHAPE PEER LOG
      tags the runner's JSON line on stdin with shape and peer (or, when
      there is none, makes an error line from LOG's last line) and prints it.
  report.py table RESULTS.jsonl
      prints the side-by-side table: per shape, every peer's tokens/s, ms/step
      and peak RSS, and ftc's ratio to it.

One idea: every runner emits the same JSON line (shape keys + tokens_per_s +
peak_rss_mb), so the table is a join on the shape and the ratios are
ftc / peer for speed and peer / ftc for memory (both > 1 = ftc better).
Standard library only: it runs under any python3.
"""
import argparse
import json
import statistics
import sys


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
    d.update(shape=a.shape, peer=a.peer)
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


def table(a):
    rows = []
    with open(a.results) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    shapes = []
    for r in rows:
        if r.get("shape") not in shapes:
            shapes.append(r.get("shape"))
    head = (f"{'shape':<10} {'runner':<34} {'torch':<14} {'tok/s':>9} {'best':>9} "
            f"{'ms/step':>9} "
            f"{'peak RSS MiB':>12} {'at import':>9} {'ftc/peer tok/s':>14} "
            f"{'peer/ftc RSS':>12} {'load':>5} {'cpu':>4}")
    print(head)
    print("-" * len(head))
    for shape in shapes:
        group = [r for r in rows if r.get("shape") == shape]
        ftc = next((r for r in group if r.get("peer") == "ftc" and "tokens_per_s" in r), None)
        for r in group:
            if "tokens_per_s" not in r:
                why = r.get("error", "failed")
                print(f"{shape:<10} {r.get('peer', '?'):<34} unavailable: {why}")
                continue
            speed = mem = None
            if ftc and r is not ftc:
                speed = ftc["tokens_per_s"] / r["tokens_per_s"]
                if ftc.get("peak_rss_mb") and r.get("peak_rss_mb"):
                    mem = r["peak_rss_mb"] / ftc["peak_rss_mb"]
            print(f"{shape:<10} {r['peer']:<34} {r.get('torch', '-') or '-':<14} "
                  f"{fmt(r['tokens_per_s'], '9.1f')} {fmt(best(r), '9.1f')} "
                  f"{fmt(r.get('ms_per_step'), '9.1f')} "
                  f"{fmt(r.get('peak_rss_mb'), '12.1f')} "
                  f"{fmt(r.get('rss_after_import_mb'), '9.1f')} "
                  f"{fmt(speed, '13.2f', 'x')} {fmt(mem, '11.2f', 'x')} "
                  f"{fmt(r.get('loadavg_1m'), '5.1f')} {fmt(r.get('cpu_util'), '4.1f')}")
        if not ftc:
            print(f"{shape:<10} (ftc unavailable for this shape: no ratios)")
    print("tok/s: median of the timed steps; best: the fastest timed step.")
    print("at import: the peer's RSS after `import torch`, before the model "
          "(PyPI's CUDA build maps its CUDA libraries too).")
    print("load: the machine's 1-minute load average when the run ended "
          "(above the thread count = disturbed timings).")
    print("cpu: CPU seconds per wall second while timed (ftc: whole run); "
          "near the thread count when undisturbed.")
    print("ratios: ftc/peer tokens/s and peer/ftc peak RSS; > 1 means ftc is "
          "faster / smaller. Target (issue 4): >= 1.5x at lower memory.")


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
    t = sub.add_parser("table")
    t.add_argument("results")
    r = sub.add_parser("record")
    r.add_argument("shape")
    r.add_argument("peer")
    r.add_argument("log")
    a = p.parse_args()
    {"ftc": ftc_line, "table": table, "record": record}[a.cmd](a)


if __name__ == "__main__":
    main()
