"""tests/hf/hf_ref.py -- the Hugging Face side of tests/hf/run.sh.

The real peer: transformers' GPT2LMHeadModel / LlamaForCausalLM and
torch.optim.AdamW, configured like the recipes that run.sh writes. The one
idea: reproduce exactly which tokens an ftc trainer sees (the val windows of
`./trainer eval`, or a train split of seq+1 bytes where every batch row is
the same window), so the two losses must agree to float32 rounding.

  hf_ref.py init FAMILY DIR SEED      random model -> DIR (save_pretrained)
  hf_ref.py eval FAMILY WEIGHTS DATA SPLIT SEQ BATCH NBATCH
                                      the loss `./trainer eval` computes
  hf_ref.py adamw FAMILY DIR DATA SEQ BATCH LR B1 B2 EPS WD FTC_WEIGHTS
                                      one AdamW step on the one train window:
                                      loss before, loss after, and the largest
                                      weight difference from ftc's step
  (several: CMD ARGS + CMD ARGS ...; one output line each)
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

torch.use_deterministic_algorithms(True)

# The shapes of the recipes in run.sh (keep in sync).
VOCAB, CTX, LAYERS, HEADS, DIM = 256, 64, 2, 4, 64
KV_HEADS, HIDDEN, RMS_EPS, THETA = 2, 128, 1e-5, 500000.0


def make_model(family):
    import transformers as tf
    if family == "gpt2":
        cfg = tf.GPT2Config(vocab_size=VOCAB, n_positions=CTX, n_embd=DIM,
                            n_layer=LAYERS, n_head=HEADS,
                            activation_function="gelu_new",
                            layer_norm_epsilon=1e-5, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0,
                            tie_word_embeddings=True, bos_token_id=None,
                            eos_token_id=None)
        cls = tf.GPT2LMHeadModel
    else:
        cfg = tf.LlamaConfig(vocab_size=VOCAB, hidden_size=DIM,
                             intermediate_size=HIDDEN, num_hidden_layers=LAYERS,
                             num_attention_heads=HEADS,
                             num_key_value_heads=KV_HEADS,
                             max_position_embeddings=CTX, rms_norm_eps=RMS_EPS,
                             rope_theta=THETA, attention_bias=False,
                             mlp_bias=False, tie_word_embeddings=False)
        cls = tf.LlamaForCausalLM
    cfg._attn_implementation = "eager"
    return cls, cfg


def load(family, weights):
    """An HF model with ftc's weights: from_pretrained on a folder holding
    the file and the config, so HF's own name mapping is what is tested."""
    cls, cfg = make_model(family)
    d = weights if os.path.isdir(weights) else None
    if d is None:
        d = weights + ".hf"
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, "model.safetensors")
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(os.path.abspath(weights), dst)
        cfg.save_pretrained(d)
    model, info = cls.from_pretrained(d, output_loading_info=True,
                                      attn_implementation="eager")
    missing = [k for k in info["missing_keys"]
               if not (family == "gpt2" and k == "lm_head.weight")]  # tied
    if missing or info["mismatched_keys"]:
        sys.exit("hf_ref: %s: missing %s mismatched %s" %
                 (weights, missing, info["mismatched_keys"]))
    return model.eval()


def val_batches(data, split, seq, batch, nbatch):
    """runtime/data.c's val windows: fixed, non-overlapping, wrapping."""
    n = len(data)
    ntrain = int(float(n) * split)
    nval = n - ntrain
    w = (nval - 1) // seq if nval >= seq + 1 else 0
    nb = min((w + batch - 1) // batch, nbatch)
    out = []
    for b in range(nb):
        rows = [ntrain + ((b * batch + r) % w) * seq for r in range(batch)]
        x = torch.tensor([list(data[s:s + seq]) for s in rows])
        y = torch.tensor([list(data[s + 1:s + seq + 1]) for s in rows])
        out.append((x, y))
    return out


def loss_of(model, x, y):
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def cmd_init(family, d, seed):
    """Random weights far from uniform logits, so a wrong convention (layout,
    norm, rope, head grouping) moves the loss a lot, not in the 4th digit."""
    cls, cfg = make_model(family)
    torch.manual_seed(int(seed))
    model = cls(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    model.save_pretrained(d, safe_serialization=True)


def cmd_eval(family, weights, data, split, seq, batch, nbatch):
    model = load(family, weights)
    raw = open(data, "rb").read()
    bs = val_batches(raw, float(split), int(seq), int(batch), int(nbatch))
    with torch.no_grad():
        losses = [loss_of(model, x, y).item() for x, y in bs]
    print("%.9g" % (sum(losses) / len(losses)))


def cmd_adamw(family, d, data, seq, batch, lr, b1, b2, eps, wd, ftc_weights):
    seq, batch = int(seq), int(batch)
    model = load(family, d)
    raw = open(data, "rb").read()
    x = torch.tensor([list(raw[0:seq])] * batch)
    y = torch.tensor([list(raw[1:seq + 1])] * batch)
    # ftc: rank-1 parameters (norms, biases) are not decayed.
    params = [p for p in model.parameters()]
    decay = [p for p in params if p.dim() >= 2]
    nodecay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(wd)},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=float(lr), betas=(float(b1), float(b2)),
                            eps=float(eps))
    l1 = loss_of(model, x, y)
    opt.zero_grad()
    l1.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    with torch.no_grad():
        l2 = loss_of(model, x, y)
    mine = model.state_dict()
    theirs = load_file(ftc_weights)
    # Adam's first step is lr * g / (|g| + eps) (+ decay): where the exact
    # gradient is zero (GPT-2's key bias: softmax ignores a shift shared by
    # all keys) both sides divide rounding noise by itself, so elements
    # with |g| < GMIN are counted but not compared; except rows whose
    # gradient is all zero (embedding rows of absent bytes: decay only).
    GMIN = 1e-6
    worst, name, n, off, tiny = 0.0, "", 0, 0, 0
    for k, v in theirs.items():
        hk = k if k in mine else "transformer." + k
        g = grads[hk].abs()
        big = g >= GMIN
        if g.dim() >= 2:
            big |= (g.reshape(g.shape[0], -1) == 0).all(dim=1).reshape(
                [-1] + [1] * (g.dim() - 1))
        diff = (mine[hk].float() - v.float()).abs() * big
        n += int(big.sum())
        tiny += int((~big).sum())
        off += int((diff > 0.01 * float(lr)).sum())
        if diff.max().item() > worst:
            worst, name = diff.max().item(), k
    print(json.dumps({"loss1": l1.item(), "loss2": l2.item(), "max_diff": worst,
                      "max_diff_tensor": name, "elements": n,
                      "zero_grad_elements": tiny, "off_by_1pct_lr": off}))


if __name__ == "__main__":
    # Several commands separated by "+" share one start-up of torch and
    # transformers (seconds each); one output line per command.
    cmds = {"init": cmd_init, "eval": cmd_eval, "adamw": cmd_adamw}
    args, runs = sys.argv[1:] + ["+"], []
    while args:
        i = args.index("+")
        runs.append(args[:i])
        args = args[i + 1:]
    for r in runs:
        if not r or r[0] not in cmds:
            sys.exit(__doc__)
    for r in runs:
        cmds[r[0]](*r[1:])
        sys.stdout.flush()
