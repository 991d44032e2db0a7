"""Small torch models of adjustable width used by the bridge's tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Module):
    """k → n → n → c with biases and a LayerNorm; optional zero-initialised readout."""

    def __init__(self, width, d_in=8, d_out=3, zero_readout=False):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.hid = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, d_out)
        if zero_readout:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x):
        return self.out(self.norm(F.relu(self.hid(F.relu(self.inp(x))))))


class Block(nn.Module):
    def __init__(self, width, n_heads, d_head=None):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_head or width // n_heads
        inner = self.n_heads * self.d_head
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * inner, bias=False)  # fused QKV
        self.proj = nn.Linear(inner, width, bias=False)
        self.ln2 = nn.RMSNorm(width)
        self.gate_up = nn.Linear(width, 2 * 2 * width, bias=False)  # gated MLP: gate and up fused
        self.down = nn.Linear(2 * width, width, bias=False)
        self.scale = None  # attention logit scale

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_heads, self.d_head).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, -1))
        g, u = self.gate_up(self.ln2(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(g) * u)


class GPT(nn.Module):
    """Pre-norm transformer with tied input/output embeddings (``head.weight is emb.weight``)."""

    def __init__(self, width, vocab=17, n_layers=2, n_heads=2, ctx=8, tied=True):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(ctx, width)
        self.blocks = nn.ModuleList(Block(width, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        if tied:
            self.head.weight = self.emb.weight

    def forward(self, idx):
        x = self.emb(idx) + self.pos.weight[: idx.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


class CNN(nn.Module):
    """3 input channels → c → c (3×3 convs) → pooled → 10 classes."""

    def __init__(self, width, k=3):
        super().__init__()
        self.c1 = nn.Conv2d(3, width, k, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.c2 = nn.Conv2d(width, width, k, padding=1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        x = F.relu(self.c2(x))
        return self.fc(x.mean((2, 3)))


class Odd(nn.Module):
    """A custom module with a raw 2-D parameter whose fan-in/out cannot be inferred."""

    def __init__(self, width):
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.w = nn.Parameter(torch.randn(width, 5))

    def forward(self, x):
        return self.lin(x) @ self.w
