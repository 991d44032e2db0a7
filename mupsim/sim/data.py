"""Teacher–student data for the simulator.

* Inputs (k = ``input_dim``): ``inputs="gaussian"``: x ~ N(0, Σ), Σ = diag(λ_i) with
  λ_i = k·i^(−s)/Σ_j j^(−s) (mean 1; s = ``input_spectrum``, s = 0: Σ = I, no scaling applied);
  ``inputs="tokens"``: x = one-hot e_i, token i (0-based) drawn with probability
  ∝ (i+1)^(−z), z = ``zipf_exponent``, by inverse CDF on a uniform.
* Teacher: a fixed random 2-layer ReLU net f(x) = A2·relu(A1 x) of width tw and rank r from
  ``config.teacher_dims()`` (``teacher_width``/``teacher_rank`` scaled by
  (width/base_width)^``teacher_width_exponent``); A1 (tw × k) has entries of variance 1/k
  (or, with rank r, A1 = P·Q with P ~ N(0, 1/r) (tw × r), Q ~ N(0, 1/k) (r × k): same entry
  variance, rank r); with ``teacher_decay`` q, A1's singular values are replaced by
  c·i^(−q), c keeping ‖A1‖_F (its singular vectors kept; only the first r if ranked); for
  tokens A1 is multiplied by √k (a one-hot x has ‖x‖² = 1, not k, so A1 x has entries of
  variance 1 either way); A2 (out × tw) has entries of variance 2/tw, so each output has
  second moment ≈ 1 (isotropic inputs). Drawn from ``np.random.default_rng([seed, 101])``.
* Regression targets f(x) + label_noise·N(0, 1); classification: one-hot argmax f(x), the
  class replaced by a uniform one with probability label_noise (needs output_dim ≥ 2).
* ``n_train = None``: online, a fresh batch per step generated inside the compiled loop
  (:func:`mupsim.sim.kernels.data.make_batch`, stream 0, index = step). Otherwise a fixed
  train set (stream 2) of n_train rows, minibatches of distinct rows sampled per step.
  The held-out set (stream 1) has n_test rows.

Same seed → identical data (all draws are seeded functions of (seed, stream, index)).
Generating a batch in the loop (inputs and teacher labels, batch 128, k = 16, teacher width 64)
took ~33 µs here (measured 2026-11-22), small next to a training step, so online data is never
pre-generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mupsim.sim.kernels.data import STREAM_ONLINE, STREAM_TEST, STREAM_TRAIN, make_batch, sample_batch


@dataclass
class Dataset:
    A1: np.ndarray  # teacher first layer (teacher width, k)
    A2: np.ndarray  # teacher readout (out, teacher_width)
    X_train: np.ndarray  # (n_train, k); 0 rows when online
    T_train: np.ndarray  # (n_train, out)
    X_test: np.ndarray  # (n_test, k)
    T_test: np.ndarray  # (n_test, out)
    task_cls: bool
    noise: float
    seed: int
    xscale: np.ndarray  # float64[k] input scale √λ_i, or empty (isotropic / tokens)
    cdf: np.ndarray  # float64[V] cumulative token probabilities, or empty (Gaussian)

    @property
    def online(self) -> bool:
        return self.X_train.shape[0] == 0


def input_scale(cfg) -> np.ndarray:
    """float64[k] of √λ_i (input covariance eigenvalues, mean 1), or empty when isotropic
    (s = 0) or for tokens."""
    if cfg.inputs != "gaussian" or cfg.input_spectrum == 0.0:
        return np.zeros(0, np.float64)
    lam = np.arange(1, cfg.input_dim + 1, dtype=np.float64) ** (-cfg.input_spectrum)
    return np.sqrt(lam * (cfg.input_dim / lam.sum()))


def token_cdf(cfg) -> np.ndarray:
    """float64[V] cumulative Zipf probabilities (last entry exactly 1), or empty (Gaussian)."""
    if cfg.inputs != "tokens":
        return np.zeros(0, np.float64)
    cdf = np.cumsum(token_probabilities(cfg))
    cdf[-1] = 1.0
    return cdf


def token_probabilities(cfg) -> np.ndarray:
    """float64[V]: P(token i), ∝ (i+1)^(−zipf_exponent)."""
    p = np.arange(1, cfg.input_dim + 1, dtype=np.float64) ** (-cfg.zipf_exponent)
    return p / p.sum()


def teacher(cfg, dtype=np.float64):
    """(A1, A2) of the teacher for config ``cfg`` (see module docstring)."""
    k, out = cfg.input_dim, cfg.output_dim
    tw, r = cfg.teacher_dims()
    rng = np.random.default_rng([cfg.seed, 101])
    if r is None:
        A1 = rng.standard_normal((tw, k)) / np.sqrt(k)
    else:
        A1 = (rng.standard_normal((tw, r)) / np.sqrt(r)) @ (rng.standard_normal((r, k)) / np.sqrt(k))
    A2 = rng.standard_normal((out, tw)) * np.sqrt(2.0 / tw)
    if cfg.teacher_decay is not None:
        U, s, Vt = np.linalg.svd(A1, full_matrices=False)
        m = s.size if r is None else min(r, s.size)
        d = np.arange(1, m + 1, dtype=np.float64) ** (-cfg.teacher_decay)
        d *= np.sqrt((s**2).sum() / (d**2).sum())
        A1 = (U[:, :m] * d) @ Vt[:m]
    if cfg.inputs == "tokens":
        A1 = A1 * np.sqrt(k)
    return np.ascontiguousarray(A1, dtype=dtype), np.ascontiguousarray(A2, dtype=dtype)


def _generate(A1, A2, xscale, cdf, rows, k, out, task_cls, noise, seed, stream, index, dtype):
    X = np.zeros((rows, k), dtype)
    T = np.zeros((rows, out), dtype)
    hid = np.zeros((rows, A1.shape[0]), dtype)
    if rows:
        make_batch(X, T, hid, A1, A2, xscale, cdf, task_cls, float(noise), int(seed), stream, index)
    return X, T


def make_dataset(cfg, dtype=None) -> Dataset:
    """Teacher, held-out set and (if ``cfg.n_train``) the fixed train set."""
    dtype = np.dtype(dtype or cfg.dtype)
    A1, A2 = teacher(cfg, dtype)
    xscale, cdf = input_scale(cfg), token_cdf(cfg)
    task_cls = cfg.task == "classification"
    args = (A1, A2, xscale, cdf)
    kw = dict(
        k=cfg.input_dim,
        out=cfg.output_dim,
        task_cls=task_cls,
        noise=cfg.label_noise,
        seed=cfg.seed,
        dtype=dtype,
    )
    Xte, Tte = _generate(*args, rows=cfg.n_test, stream=STREAM_TEST, index=0, **kw)
    Xtr, Ttr = _generate(*args, rows=cfg.n_train or 0, stream=STREAM_TRAIN, index=0, **kw)
    return Dataset(A1, A2, Xtr, Ttr, Xte, Tte, task_cls, float(cfg.label_noise), int(cfg.seed), xscale, cdf)


class BatchStream:
    """Python access to exactly the batches the compiled loop sees (used by the reference)."""

    def __init__(self, ds: Dataset, batch_size: int):
        self.ds = ds
        self.b = batch_size
        self.perm = np.arange(ds.X_train.shape[0])
        dt = ds.X_test.dtype
        k, out = ds.X_test.shape[1], ds.T_test.shape[1]
        self.X = np.zeros((batch_size, k), dt)
        self.T = np.zeros((batch_size, out), dt)
        self.hid = np.zeros((batch_size, ds.A1.shape[0]), dt)

    def batch(self, step: int):
        """Batch of step ``step`` (steps must be requested in increasing order, each once,
        when a fixed train set is used, since sampling advances a persistent permutation)."""
        ds = self.ds
        if ds.online:
            make_batch(
                self.X,
                self.T,
                self.hid,
                ds.A1,
                ds.A2,
                ds.xscale,
                ds.cdf,
                ds.task_cls,
                ds.noise,
                ds.seed,
                STREAM_ONLINE,
                step,
            )
        else:
            sample_batch(self.perm, ds.X_train, ds.T_train, self.X, self.T, ds.seed, step)
        return self.X.copy(), self.T.copy()
