"""bench/zero_memory.py -- per-rank planned memory of GPT-2 124M, GPT-2 1.5B
and a LLaMA 7B shape under data parallel and zero(stage: 1|2|3) at 1, 2, 4,
8 and 64 ranks, from `ftc plan --ranks N --json`, next to the ZeRO paper's
formula and DeepSpeed's own estimator (PyPI deepspeed).

Run: FTC=build/ftc ~/.cache/ftc/venv/bin/python bench/zero_memory.py
(DeepSpeed is optional: pip install deepspeed into that venv; without it the
column says n/a.) Prints markdown tables (docs/distributed.md).

The trainers here are float32 with AdamW (4-byte weights and gradients, two
4-byte state slots), so the paper's formula is written for those sizes:
model states per rank = 4P + 4P + 8P/N (stage 1), 4P + 12P/N (stage 2),
16P/N (stage 3), 16P (no zero). DeepSpeed's estimator assumes fp16 mixed precision: 2P of
fp16 weights kept whole plus 18P/N sharded (fp16 and fp32 gradients, fp32
master weights, Adam's two moments) at stage 2, 18P/N at stage 3 (plus the
largest layer, 0 here), model states only.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

FTC = os.environ.get("FTC", "build/ftc")
RANKS = [1, 2, 4, 8, 64]
SEQ = 1024
MODELS = {
    "GPT-2 124M": ("use gpt2", "gpt2.gpt2(vocab: 50257, ctx: 1024, layers: 12, heads: 12, dim: 768)"),
    "GPT-2 1.5B": ("use gpt2", "gpt2.gpt2(vocab: 50257, ctx: 1024, layers: 48, heads: 25, dim: 1600)"),
    "LLaMA 7B": ("use llama", "llama.llama(vocab: 32000, dim: 4096, n_layers: 32, heads: 32, "
                              "kv_heads: 32, hidden: 11008)"),
}
GiB = float(1 << 30)


def recipe(use, model, stage):
    passes = "flash_attention()\n" + (f"zero(stage: {stage})\n" if stage else "")
    return f"""{use}
model = {model}
weights = init(seed: 1)
data train = shards("x.bin", seq: {SEQ}, batch: 1, split: 1.0)
train {{
  steps 1
  optimizer adamw(lr: 1e-4, betas: (0.9, 0.95), weight_decay: 0.1)
}}
passes {{
{passes}}}
"""


def plan(text, ranks):
    with tempfile.NamedTemporaryFile("w", suffix=".ft", delete=False) as f:
        f.write(text)
    try:
        out = subprocess.run([FTC, "plan", f.name, "--json", "--ranks", str(ranks)],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out)


def deepspeed_estimates():
    """DeepSpeed's zero2/zero3 cold estimators as functions of (P, N), or None."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            from deepspeed.runtime.zero.stage_1_and_2 import \
                estimate_zero2_model_states_mem_needs as z2
            from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs as z3
    except Exception as e:  # noqa: BLE001 -- any import failure means "not available"
        print(f"(deepspeed not importable: {e})", file=sys.stderr)
        return None
    # the *_all_cold functions print these numbers for every offload option;
    # the plain functions return (cpu bytes, gpu bytes[, largest layer]):
    # offload off is the comparison that fits ranks holding everything
    def e2(p, n):
        return z2(total_params=p, num_gpus_per_node=n, num_nodes=1, cpu_offload=False)[1]

    def e3(p, n):
        return z3(total_params=p, largest_layer_params=0, num_gpus_per_node=n, num_nodes=1,
                  cpu_offload=False, cpu_offload_params=False, zero_init=False)[1]
    return e2, e3


def paper(p, stage, n):
    return {0: 16 * p, 1: 8 * p + 8 * p / n, 2: 4 * p + 12 * p / n, 3: 16 * p / n}[stage]


def main():
    ds = deepspeed_estimates()
    for name, (use, model) in MODELS.items():
        print(f"\n### {name} (float32, AdamW, batch 1 x seq {SEQ}, flash_attention)\n")
        print("| stage | ranks | params | grads | optimizer | model states | paper formula "
              "| DeepSpeed estimate (fp16) | arena per rank |")
        print("|---|---|---|---|---|---|---|---|---|")
        for stage in (0, 1, 2, 3):
            for n in RANKS:
                j = plan(recipe(use, model, stage), n)
                p = j["param_count"]
                key = lambda c: j.get("rank_" + c, j[c])  # noqa: E731
                states = key("params") + key("grads") + key("optimizer_state")
                est = "n/a"
                if ds and stage in (2, 3):
                    est = f"{ds[stage - 2](p, n) / GiB:.2f}"
                elif ds and stage == 1:
                    est = "(no stage-1 estimator)"
                print(f"| {stage or 'DP'} | {n} | {key('params') / GiB:.2f} | "
                      f"{key('grads') / GiB:.2f} | {key('optimizer_state') / GiB:.2f} | "
                      f"{states / GiB:.2f} | {paper(p, stage, n) / GiB:.2f} | {est} | "
                      f"{j.get('rank_arena_bytes', j['arena_bytes']) / GiB:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
