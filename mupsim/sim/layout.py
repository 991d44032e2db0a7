"""Parameter layout shared by the numba kernels, the NumPy reference and the runner.

All trainable parameters live in one flat 1-D buffer ``theta``; parameter ``p`` occupies
``theta[offsets[p] : offsets[p] + rows[p]*cols[p]]`` and is the C-ordered matrix
``(rows[p], cols[p])`` (vectors have ``cols = 1``). Gradients and optimizer states use the
same layout, so the optimizers are written once for every parameter.

Normalized network (``model="normalized"``), in this order:
``embedding`` E (n, k); per block l: ``block{l}.W1`` (r·n, n), ``block{l}.W2`` (n, r·n),
then if ``bias``: ``block{l}.b1`` (r·n), ``block{l}.b2`` (n); if ``norm_gain``:
``block{l}.g_pre`` (n) when a pre-norm exists, ``block{l}.g_post`` (n) when a post-norm
exists; finally ``readout`` R (out, n).

Deep linear network (``model="linear"``): ``embedding`` E (n, k), ``hidden{l}`` (n, n) for
l < depth, ``readout`` R (out, n).

Integer architecture vector ``arch`` (index constants A_* below) and float vector
``farch`` = [branch multiplier β, norm epsilon] are what the kernels read. ``arch[A_TASK]`` is the
task code (softmax cross-entropy for classification and next-token), ``arch[A_CTX]`` the
next-token context length c (0 for other tasks), ``arch[A_LOOKUP]`` 1 for the next-token
task: the embedding's product with its one-hot inputs is then a sum of looked-up columns
(:func:`mupsim.sim.kernels.model.onehot_embed`) instead of a dense product. Plain token inputs
keep the dense product: the lookup's gradient sums a batch's repeated tokens in row order,
which OpenBLAS's product matches only up to its block length (measured here: bit-identical
at batch ≤ 384, 2e-16 apart at 512), so switching would move stored results' last bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# arch indices
A_MODEL, A_N, A_K, A_OUT, A_DEPTH, A_R, A_ACT, A_NORM, A_PRE, A_POST, A_TASK, A_CTX, A_LOOKUP = range(13)
ARCH_LEN = 13
MODEL_NORMALIZED, MODEL_LINEAR = 0, 1
ACT_RELU, ACT_GELU = 0, 1
NORM_NONE, NORM_RMS, NORM_LAYER = 0, 1, 2
TASK_REGRESSION, TASK_CLASSIFICATION, TASK_NEXT_TOKEN = 0, 1, 2
TASK_CODES = {
    "regression": TASK_REGRESSION,
    "classification": TASK_CLASSIFICATION,
    "next_token": TASK_NEXT_TOKEN,
}
# columns of the per-block index table (-1 = absent)
B_W1, B_W2, B_B1, B_B2, B_GPRE, B_GPOST = range(6)

NORM_EPS = 1e-10
"""Epsilon inside the norm's square root: rms = sqrt(mean(x²) + NORM_EPS). Small so the
normalized matrices stay scale-invariant to good accuracy even when their output is small."""


@dataclass
class Layout:
    names: list = field(default_factory=list)
    classes: list = field(default_factory=list)  # calculator layer class of each parameter
    shapes: list = field(default_factory=list)
    offsets: np.ndarray = None
    rows: np.ndarray = None
    cols: np.ndarray = None
    is_matrix: np.ndarray = None
    size: int = 0
    emb: int = 0
    readout: int = 0
    blocks: np.ndarray = None  # int64 (depth, 6)
    arch: np.ndarray = None
    farch: np.ndarray = None
    matrices: np.ndarray = None  # parameter indices of the matrices, diagnostic order

    def index(self, name: str) -> int:
        return self.names.index(name)

    def view(self, theta: np.ndarray, p) -> np.ndarray:
        """Parameter ``p`` (index or name) of flat buffer ``theta`` as a (rows, cols) view."""
        if isinstance(p, str):
            p = self.index(p)
        o, r, c = int(self.offsets[p]), int(self.rows[p]), int(self.cols[p])
        return theta[o : o + r * c].reshape(r, c)

    @property
    def matrix_names(self) -> list:
        return [self.names[p] for p in self.matrices]


def build_layout(cfg) -> Layout:
    """Layout for a SimConfig (or any object with the same attribute names)."""
    n, k, out, L, r = cfg.width, cfg.input_dim, cfg.output_dim, cfg.depth, cfg.ffn_ratio
    lay = Layout()

    def add(name, cls, rows, cols, mat):
        lay.names.append(name)
        lay.classes.append(cls)
        lay.shapes.append((rows, cols))
        lay._mat.append(mat)
        return len(lay.names) - 1

    lay._mat = []
    blocks = -np.ones((L, 6), np.int64)
    linear = cfg.model == "linear"
    lay.emb = add("embedding", "embedding", n, k, True)
    if linear:
        for l in range(L):
            blocks[l, B_W1] = add(f"hidden{l}", "hidden", n, n, True)
        pre = post = False
        norm = NORM_NONE
    else:
        norm = {"none": NORM_NONE, "rms": NORM_RMS, "layer": NORM_LAYER}[cfg.norm]
        pre = norm != NORM_NONE and cfg.norm_position in ("pre", "both")
        post = norm != NORM_NONE and cfg.norm_position in ("post", "both")
        for l in range(L):
            blocks[l, B_W1] = add(f"block{l}.W1", "hidden", r * n, n, True)
            blocks[l, B_W2] = add(f"block{l}.W2", "hidden", n, r * n, True)
            if cfg.bias:
                blocks[l, B_B1] = add(f"block{l}.b1", "bias", r * n, 1, False)
                blocks[l, B_B2] = add(f"block{l}.b2", "bias", n, 1, False)
            if cfg.norm_gain:
                if pre:
                    blocks[l, B_GPRE] = add(f"block{l}.g_pre", "norm_gain", n, 1, False)
                if post:
                    blocks[l, B_GPOST] = add(f"block{l}.g_post", "norm_gain", n, 1, False)
    lay.readout = add("readout", "readout", out, n, True)

    sizes = np.array([a * b for a, b in lay.shapes], np.int64)
    lay.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    lay.rows = np.array([a for a, _ in lay.shapes], np.int64)
    lay.cols = np.array([b for _, b in lay.shapes], np.int64)
    lay.is_matrix = np.array(lay._mat, np.bool_)
    del lay._mat
    lay.size = int(sizes.sum())
    lay.blocks = blocks
    lay.matrices = np.array([p for p in range(len(lay.names)) if lay.is_matrix[p]], np.int64)
    arch = np.zeros(ARCH_LEN, np.int64)
    arch[A_MODEL] = MODEL_LINEAR if linear else MODEL_NORMALIZED
    arch[A_N], arch[A_K], arch[A_OUT], arch[A_DEPTH], arch[A_R] = n, k, out, L, r
    arch[A_ACT] = ACT_GELU if cfg.activation == "gelu" else ACT_RELU
    arch[A_NORM], arch[A_PRE], arch[A_POST] = norm, int(pre), int(post)
    arch[A_TASK] = TASK_CODES[cfg.task]
    arch[A_CTX] = cfg.context if cfg.task == "next_token" else 0
    arch[A_LOOKUP] = int(cfg.task == "next_token")
    lay.arch = arch
    lay.farch = np.array([cfg.branch_multiplier, NORM_EPS], np.float64)
    return lay


def activation_names(lay: Layout) -> list:
    """Names of the activation sites whose RMS the kernels log, in kernel slot order.

    Normalized net: ``embedding`` (h0), per block ``block{l}.z`` (input of W1, after the
    pre-norm), ``.a1`` (W1 pre-activation), ``.act`` (after the nonlinearity), ``.a2`` (W2
    output), ``.o`` (branch output, after the post-norm), ``.h`` (residual stream after the
    block); then ``output`` (y). Linear net: ``embedding``, ``hidden{l}``, ``output``.
    """
    L = int(lay.arch[A_DEPTH])
    if lay.arch[A_MODEL] == MODEL_LINEAR:
        return ["embedding"] + [f"hidden{l}" for l in range(L)] + ["output"]
    names = ["embedding"]
    for l in range(L):
        names += [f"block{l}.{s}" for s in ("z", "a1", "act", "a2", "o", "h")]
    return names + ["output"]
