"""Worked example: μP + weight-decay rules on a small GPT, with mupsim's PyTorch bridge.

A pre-norm GPT (tied embeddings, 4 heads whose dimension grows with the width, GELU MLP) learns a
synthetic corpus (a sparse random Markov chain over 64 tokens, so the best achievable loss is the
chain's entropy rate). Steps:

1. tune (lr, wd) at the base width 32 (AdamW, warmup + cosine, μP in the multiplier-free gauge,
   readout multiplier for the tied head installed by ``apply_multipliers``);
2. transfer them with ``param_groups`` to widths 64, 128, 256 under each weight-decay rule
   (constant, fan2025, timescale) and record the held-out loss;
3. coordinate check over the widths;
4. save every checkpoint with its settings and run ``mupsim diagnose`` on them; then rerun the
   transfer with the weight-decay rule the diagnostic implies (``alignment`` with α̂).

Everything is written to ``examples/output/`` (``gpt_transfer.txt`` is the printed report).
Run: ``python examples/gpt_transfer.py`` (one torch thread; it prints its total time, 745 s in the
committed ``output/gpt_transfer.txt``, a run on the shared 2-core development machine).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mupsim.torch import (
    apply_multipliers,
    attention_logit_scale,
    coord_check,
    make_optimizers,
    param_groups,
    rescale_init_,
    save_settings,
)

OUT = Path(__file__).resolve().parent / "output"
VOCAB, CTX, BATCH, STEPS, WARMUP = 64, 32, 16, 300, 20
BASE, WIDTHS = 32, (32, 64, 128, 256)
HEADS, LAYERS = 4, 2
RULES = ("constant", "fan2025", "timescale")


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.fc = nn.Linear(width, 4 * width)
        self.fc_out = nn.Linear(4 * width, width)
        self.d_head = width // HEADS
        self.scale = attention_logit_scale(self.d_head, BASE // HEADS)  # μP: ∝ 1/d_head

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, HEADS, self.d_head).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, width)
        self.pos = nn.Embedding(CTX, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB, bias=False)
        self.head.weight = self.tok.weight  # tied

    def forward(self, idx):
        x = self.tok(idx) + self.pos.weight[: idx.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def markov_chain(seed=0):
    """Transition matrix: each token has 4 likely successors (Dirichlet weights) plus a little noise."""
    rng = np.random.default_rng(seed)
    P = np.full((VOCAB, VOCAB), 0.02 / VOCAB)
    for i in range(VOCAB):
        P[i, rng.choice(VOCAB, 4, replace=False)] += 0.98 * rng.dirichlet(np.ones(4))
    P /= P.sum(1, keepdims=True)
    pi = np.linalg.matrix_power(P.T, 200)[:, 0]
    entropy = float(-(pi[:, None] * P * np.log(P)).sum())
    return P, entropy


def sample(P, n, seed):
    rng = np.random.default_rng(seed)
    cum = P.cumsum(1)
    x = np.empty((n, CTX + 1), np.int64)
    x[:, 0] = rng.integers(0, VOCAB, n)
    u = rng.random((n, CTX))
    for t in range(CTX):
        x[:, t + 1] = np.minimum((u[:, t, None] > cum[x[:, t]]).sum(1), VOCAB - 1)
    return torch.from_numpy(x)


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))


BASE_MODEL = None
DELTA = None


def build(width, seed=None):
    """The model at ``width`` with μP's init (the base model's init, rescaled) and head multiplier."""
    if seed is not None:  # coord_check seeds torch itself before calling build(width)
        torch.manual_seed(seed)
    m = GPT(width)
    rescale_init_(m, BASE_MODEL, delta_model=DELTA)
    apply_multipliers(m, BASE_MODEL, delta_model=DELTA)
    return m


def groups(model, lr, wd, rule, alpha=None):
    return param_groups(
        model, BASE_MODEL, lr=lr, wd=wd, wd_rule=rule, alignment_exponent=alpha, delta_model=DELTA
    )


def train(width, lr, wd, rule, train_data, val_data, alpha=None, seed=0, save=None):
    model = build(width, seed)
    gs = groups(model, lr, wd, rule, alpha)
    opts = make_optimizers(gs, betas=(0.9, 0.95))
    sched = [
        torch.optim.lr_scheduler.LambdaLR(
            o, lambda t: min(1.0, (t + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * min(t, STEPS) / STEPS))
        )
        for o in opts
    ]
    g = torch.Generator().manual_seed(seed)
    for _ in range(STEPS):
        batch = train_data[torch.randint(0, len(train_data), (BATCH,), generator=g)]
        loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            return float("nan")
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts:
            o.step()
        for s in sched:
            s.step()
    with torch.no_grad():
        val = float(loss_fn(model, val_data))
    if save is not None:
        torch.save(model.state_dict(), save.with_suffix(".pt"))
        save_settings(save.with_suffix(".mupsim.json"), model, gs, width=width, rule=rule, lr=lr, wd=wd)
    return val


def main():
    global BASE_MODEL, DELTA
    torch.set_num_threads(1)
    OUT.mkdir(exist_ok=True)
    (OUT / "ckpt").mkdir(exist_ok=True)
    log_lines = []

    def log(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        log_lines.append(s)

    t0 = time.time()
    torch.manual_seed(0)
    BASE_MODEL = GPT(BASE)
    with torch.device("meta"):
        DELTA = GPT(2 * BASE)
    P, H = markov_chain()
    train_data, val_data = sample(P, 4096, 1), sample(P, 256, 2)
    log(f"synthetic corpus: Markov chain over {VOCAB} tokens, entropy rate {H:.3f} nats (the best loss)")
    log(
        f"GPT: {LAYERS} pre-norm blocks, {HEADS} heads, tied embeddings; AdamW, {STEPS} steps, batch {BATCH}x{CTX}"
    )
    log()
    log("1. classification at width 256 vs base 32 (mupsim.torch.classify):")
    from mupsim.torch import classify

    log(classify(GPT(256), BASE_MODEL).table())
    log()

    log(f"2. tune (lr, wd) at the base width {BASE} (held-out loss):")
    lrs, wds = (1e-2, 3e-2, 1e-1), (0.1, 0.3, 1.0)
    grid = {}
    for lr in lrs:
        for wd in wds:
            grid[(lr, wd)] = train(BASE, lr, wd, "constant", train_data, val_data)
    log("lr \\ wd  " + "  ".join(f"{wd:>6g}" for wd in wds))
    for lr in lrs:
        log(f"{lr:<8g} " + "  ".join(f"{grid[(lr, wd)]:6.3f}" for wd in wds))
    lr0, wd0 = min(grid, key=grid.get)
    log(f"best at width {BASE}: lr = {lr0:g}, wd = {wd0:g} (loss {grid[(lr0, wd0)]:.3f})")
    log()

    log("3. transfer to wider models under each weight-decay rule (held-out loss):")
    res = {}
    for rule in RULES:
        for n in WIDTHS:
            res[(rule, n)] = train(
                n, lr0, wd0, rule, train_data, val_data, save=OUT / "ckpt" / f"{rule}_w{n}"
            )
    log("rule        " + "  ".join(f"n={n:<5d}" for n in WIDTHS))
    for rule in RULES:
        log(f"{rule:<11s} " + "  ".join(f"{res[(rule, n)]:7.3f}" for n in WIDTHS))
    log(f"(entropy rate {H:.3f})")
    for rule in RULES:
        st = json.loads((OUT / "ckpt" / f"{rule}_w256.mupsim.json").read_text())["params"][
            "blocks.0.qkv.weight"
        ]
        log(f"  {rule}: hidden-matrix peak lr {st['lr']:.3g}, wd {st['wd']:.3g} at width 256")
    log()

    log("4. coordinate check (3 steps of the tuned μP setting, fan2025 rule, 3 seeds):")
    batches = [train_data[i * BATCH : (i + 1) * BATCH] for i in range(4)]
    cc = coord_check(
        build,
        WIDTHS,
        batches,
        loss_fn=loss_fn,
        steps=3,
        seeds=(0, 1, 2),
        make_optimizer=lambda m, w: make_optimizers(groups(m, lr0, wd0, "fan2025")),
    )
    log(cc.table())
    cc.plot(OUT / "coord_check.png", title="GPT μP")

    def build_sp(width):
        m = GPT(width)
        for b in m.blocks:
            b.scale = None  # PyTorch's 1/sqrt(d_head)
        return m

    sp = coord_check(
        build_sp,
        WIDTHS,
        batches,
        loss_fn=loss_fn,
        steps=3,
        seeds=(0, 1, 2),
        make_optimizer=lambda m, w: torch.optim.AdamW(m.parameters(), lr=lr0, weight_decay=wd0),
    )
    sp.plot(OUT / "coord_check_sp.png", title="GPT SP")
    log("same check under SP (PyTorch init, one AdamW lr, 1/sqrt(d_head)); slope of each module:")
    log("  " + ", ".join(f"{m} {f.exponent:+.2f}" for m, f in sp.slopes.items()))
    mx = lambda c: max(abs(f.exponent) for k, f in c.slopes.items() if k != "head")  # noqa: E731
    log(f"largest |slope| except the head: μP {mx(cc):.2f}, SP {mx(sp):.2f}")
    log()

    log("5. mupsim diagnose on the fan2025 checkpoints:")
    cmd = (
        [sys.executable, "-m", "mupsim", "diagnose"]
        + [str(OUT / "ckpt" / f"fan2025_w{n}.pt") for n in WIDTHS]
        + ["--plot", str(OUT / "diagnose.png")]
    )
    r = subprocess.run(cmd, capture_output=True, text=True)
    diag_text = r.stdout.strip() or r.stderr.strip()
    (OUT / "diagnose.txt").write_text(diag_text + "\n")
    summary = [
        ln
        for ln in diag_text.splitlines()
        if ln.startswith(("alpha (", "alpha from", "stable", "implied", "note"))
    ]
    log(
        "$ mupsim diagnose examples/output/ckpt/fan2025_w{32,64,128,256}.pt --plot examples/output/diagnose.png"
    )
    log("  (per-matrix table in examples/output/diagnose.txt)")
    for ln in summary:
        log(ln)
    js = subprocess.run(cmd[:-2] + ["--format", "json"], capture_output=True, text=True)
    alpha = json.loads(js.stdout)["alpha"]["exponent"] if js.returncode == 0 else None
    log()
    if alpha is not None:
        a = min(1.0, max(0.5, alpha))
        log(f"6. transfer again with the implied rule (--wd-rule alignment --alignment-exponent {a:.2f}):")
        row = [train(n, lr0, wd0, "alignment", train_data, val_data, alpha=round(a, 2)) for n in WIDTHS]
        log("alignment   " + "  ".join(f"{v:7.3f}" for v in row))
    log()
    log(f"total time {time.time() - t0:.0f} s")
    (OUT / "gpt_transfer.txt").write_text("\n".join(log_lines) + "\n")
    for p in (OUT / "ckpt").glob("*.pt"):
        p.unlink()  # keep the settings files, not the weights (regenerated by running the example)


if __name__ == "__main__":
    main()
