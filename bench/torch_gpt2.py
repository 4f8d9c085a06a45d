#!/usr/bin/env python3
"""bench/torch_gpt2.py -- the PyTorch peer of ftc's CPU benchmark.

Trains GPT-2 (learned position embedding, pre-LayerNorm, tanh GELU, causal
attention, lm head tied to wte, no dropout) with AdamW on random tokens in
fp32 and prints ONE JSON line on stdout: tokens/s and ms/step (median of the
steps after warm-up), the process's peak RSS, the torch version and the BLAS
it runs on. Progress goes to stderr.

One idea: every knob that changes speed is fixed by the command line and set
before torch is imported (thread counts must be in the environment before
OpenBLAS/MKL/OpenMP start), and each configuration runs in a fresh process,
so ru_maxrss is that configuration's own peak.

Implementations (--impl):
  plain  this file's own GPT-2 module (nn.Linear, nn.LayerNorm, nn.Embedding)
  hf     transformers' GPT2LMHeadModel built from a GPT2Config (no download)
Attention (--attn):
  explicit  q@k^T, causal mask, softmax, @v, materialized as ftc's spine does
            (HF: attn_implementation="eager")
  sdpa      F.scaled_dot_product_attention (fused; torch >= 2.0 only)
On a GPU (--device cuda, the peer of bench/gpu.sh): --precision fp32 | tf32
(fp32 weights, TF32 matrix products) | bf16 (fp32 master weights, bf16
autocast), --fused for AdamW(fused=True); steps are timed between
torch.cuda.synchronize() calls and the peak is torch's
max_memory_allocated (also reported as gpu_peak_mb).
"""
import argparse
import json
import math
import os
import platform
import re
import resource
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=5, help="timed steps (after warm-up)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps first (default 2, 3 with --compile)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--impl", choices=["plain", "hf"], default="plain")
    p.add_argument("--attn", choices=["explicit", "sdpa"], default="explicit")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    p.add_argument("--fused", action="store_true", help="AdamW(fused=True) (GPU)")
    return p.parse_args()


ARGS = parse_args()
# Before `import torch`: OpenBLAS and MKL size their pools when loaded.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def rss_mb(field):
    """VmRSS / VmHWM of this process in MiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def blas_info():
    """What BLAS this torch really calls: the build's BLAS_INFO plus the BLAS
    libraries mapped into the process (symlinks such as Debian's
    libblas.so.3 alternative show resolved in /proc/self/maps)."""
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([\w-]+)", cfg)
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            # numpy's own OpenBLAS (pulled in by transformers) and cuBLAS
            # are mapped but never called by CPU torch ops: leave them out.
            if (len(parts) >= 6 and "numpy" not in parts[-1] and "nvidia" not in parts[-1]
                    and re.search(r"blas|mkl|lapack|dnnl|gomp|iomp",
                                  os.path.basename(parts[-1]))):
                libs.add(os.path.realpath(parts[-1]))
    info = m.group(1) if m else "unknown"
    blas = [l for l in libs if "blas" in os.path.basename(l)]
    if info == "mkl":
        used = "MKL (linked into libtorch_cpu)"
    else:
        used = ", ".join(os.path.basename(l) for l in blas) or info
    return {
        "used": used,
        "blas_info": info,
        "mkl": bool(torch.backends.mkl.is_available()),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "libs": sorted(libs),
    }


class Block(nn.Module):
    def __init__(self, dim, heads, seq, attn):
        super().__init__()
        self.heads, self.attn = heads, attn
        self.ln_1 = nn.LayerNorm(dim)
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.mlp_proj = nn.Linear(4 * dim, dim)
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.heads, C // self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        if self.attn == "sdpa":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
            att = att.masked_fill(~self.mask[:T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, vocab, ctx, layers, heads, dim, attn):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(ctx, dim)
        self.h = nn.ModuleList(Block(dim, heads, ctx, attn) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        # Same initialisation as stdlib/gpt2.ft (irrelevant to speed, kept honest).
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.zeros_(p) if name.endswith("bias") else nn.init.ones_(p)
            else:
                std = 0.02
                if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                    std = 0.02 / math.sqrt(2 * layers)
                if name.startswith("wpe"):
                    std = 0.01
                nn.init.normal_(p, std=std)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe.weight[:T]
        for b in self.h:
            x = b(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied lm head


def build_hf(a):
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=a.vocab, n_positions=a.seq, n_embd=a.dim,
                     n_layer=a.layers, n_head=a.heads, activation_function="gelu_new",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     tie_word_embeddings=True, use_cache=False)
    impl = "eager" if a.attn == "explicit" else "sdpa"
    cfg._attn_implementation = impl
    model = GPT2LMHeadModel(cfg)
    got = getattr(model.config, "_attn_implementation", impl)
    if got != impl:
        raise RuntimeError(f"transformers chose attention {got!r}, wanted {impl!r}")
    assert model.lm_head.weight is model.transformer.wte.weight, "lm head not tied"

    class Logits(nn.Module):  # same loss path as the plain model
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, tokens):
            return self.m(input_ids=tokens, use_cache=False).logits
    return Logits(model), transformers.__version__


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    gpu = a.device == "cuda"
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    rss_import = rss_mb("VmRSS")
    hf_version = None
    if a.impl == "hf":
        model, hf_version = build_hf(a)
    else:
        if a.attn == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
            raise RuntimeError(f"torch {torch.__version__} has no scaled_dot_product_attention")
        model = GPT2(a.vocab, a.seq, a.layers, a.heads, a.dim, a.attn)
    model.to(dev).train()
    nparams = sum(p.numel() for p in model.parameters())
    # Decay matrices, not biases/norm gains (the usual GPT-2 recipe; ftc marks
    # the same params no_decay). Same arithmetic either way.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    extra = {"fused": True} if a.fused else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, **extra)
    fwd = model
    if a.compile:
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
        fwd = torch.compile(model)

    warmup = a.warmup if a.warmup is not None else (3 if a.compile else 2)
    total = warmup + a.steps
    g = torch.Generator().manual_seed(a.seed)
    data = torch.randint(0, a.vocab, (total, a.batch, a.seq + 1), generator=g).to(dev)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if a.precision == "bf16"
                else __import__("contextlib").nullcontext())
    if gpu:
        torch.cuda.reset_peak_memory_stats()

    times, losses, cpu = [], [], 0.0
    for step in range(total):
        x, y = data[step, :, :-1], data[step, :, 1:]
        c0 = time.process_time()  # all threads' CPU time: shows contention
        if gpu:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast:
            logits = fwd(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        loss.backward()
        opt.step()
        if gpu:
            torch.cuda.synchronize()
        lv = loss.item()
        dt = time.perf_counter() - t0
        losses.append(lv)
        if step >= warmup:
            times.append(dt)
            cpu += time.process_time() - c0
        print(f"step {step:3d} loss {lv:.4f} {dt * 1000:9.1f} ms"
              f"{'  (warm-up)' if step < warmup else ''}", file=sys.stderr, flush=True)

    med = statistics.median(times)
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB
    out = {
        "peer": f"torch-{a.impl}-{a.attn}" + ("-compile" if a.compile else "")
                + (f"-{a.precision}" if gpu else ""),
        "impl": a.impl, "attn": a.attn, "compile": a.compile,
        "torch": torch.__version__, "transformers": hf_version,
        "python": platform.python_version(), "executable": sys.executable,
        "blas": blas_info(), "threads": torch.get_num_threads(),
        "layers": a.layers, "heads": a.heads, "dim": a.dim, "vocab": a.vocab,
        "batch": a.batch, "seq": a.seq, "params": nparams,
        "warmup": warmup, "steps": a.steps,
        "ms_per_step": round(med * 1000, 1),
        "tokens_per_s": round(a.batch * a.seq / med, 1),
        "ms_steps": [round(t * 1000, 1) for t in times],
        # CPU seconds per wall second over the timed steps; near --threads
        # when the machine was not shared, well below it when it was.
        "cpu_util": round(cpu / sum(times), 2),
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "peak_rss_mb": round(max(ru, rss_mb("VmHWM")), 1),
        "rss_after_import_mb": round(rss_import, 1),
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "precision": a.precision, "fused": a.fused,
        "gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if gpu else None,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one JSON line even on failure, for the harness
        print(json.dumps({"error": f"{type(e).__name__}: {e}",
                          "torch": torch.__version__}), flush=True)
        raise
