"""Fan et al.'s spectral diagnostic on checkpoints (torch-free for ``.safetensors``).

Per matrix (a ≥2-D float tensor, viewed as (shape[0], rest)): the top singular value σ_max
(randomised block power iteration, exact SVD for small matrices), RMS = ‖W‖_F/√(numel), stable
rank ‖W‖_F²/σ_max², and, where the settings are known, σ_max/√(η_l/λ_l). Across widths, for the
hidden matrices: α̂, the exponent of σ_max/√(η_l/λ_l) in n (Fan et al.'s quantity; σ_max/RMS when
no settings are known — both are n^α in the steady state, RMS(W) ∝ √(η/λ)), with a bootstrap
interval (:func:`mupsim.analysis.power_law_fit`, resampling seeds and matrices within each width),
the stable-rank exponent, and the weight-decay rule they imply:
``--wd-rule alignment --alignment-exponent α̂`` (λ ∝ n^(2α̂−1); α̂ = 0.75 is Fan et al.'s √n).

Settings η_l, λ_l come from ``<checkpoint stem>.mupsim.json`` (written by
:func:`mupsim.torch.save_settings`) or a ``settings=`` file per checkpoint. Memory: one tensor at
a time in float32 (the checkpoint is memory-mapped), never the whole file and never float64.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mupsim.analysis.stats import power_law_fit
from mupsim.errors import MupsimError
from mupsim.torch.checkpoints import Checkpoint

EXACT_SVD_MAX = 256 * 256  # below this many entries σ_max comes from a full SVD


def sigma_max(
    w: np.ndarray, *, tol: float = 1e-4, max_iter: int = 200, block: int = 8, seed: int = 0
) -> float:
    """Top singular value of a 2-D array: randomised block power (subspace) iteration.

    Each iteration costs two products with W (2·rows·cols·block flops, float32); the estimate is
    the top singular value of W·Q for the current orthonormal block Q (Rayleigh–Ritz), stopped when
    it changes by less than ``tol`` relative. A lower bound that converges from below. Arrays of
    at most EXACT_SVD_MAX entries (or with a side <= ``block``) get an exact SVD instead.

    Args:
        w: the matrix.
        tol: the relative change that stops the iteration.
        max_iter: the most iterations.
        block: the block size (number of vectors iterated together).
        seed: seeds the starting block.

    Returns:
        σ_max (0.0 for an all-zero or empty matrix).

    Raises:
        MupsimError: ``w`` is not 2-D.

    Examples:
        >>> import numpy as np
        >>> round(sigma_max(np.ones((300, 400), np.float32)), 1)  # √(300·400)
        346.4
    """
    w = np.asarray(w)
    if w.ndim != 2:
        raise MupsimError(f"sigma_max needs a 2-D array, got shape {w.shape}")
    if w.size == 0:
        return 0.0
    if w.size <= EXACT_SVD_MAX or min(w.shape) <= block:
        return float(np.linalg.svd(w.astype(np.float64), compute_uv=False)[0])
    if w.shape[0] < w.shape[1]:
        w = w.T
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((w.shape[1], block)).astype(w.dtype))[0]
    prev = 0.0
    for _ in range(max_iter):
        z = w @ q
        s = float(np.linalg.svd(z.astype(np.float64), compute_uv=False)[0])
        if s == 0.0:
            return 0.0
        if abs(s - prev) <= tol * s:
            return s
        prev = s
        q = np.linalg.qr(w.T @ z)[0]
    return prev


def sum_squares(w: np.ndarray, chunk: int = 1 << 22) -> float:
    """Σ w² accumulated in float64 over chunks (no full-size float64 copy).

    Args:
        w: an array of any shape.
        chunk: entries converted to float64 at a time.

    Returns:
        The sum of squares.

    Examples:
        >>> import numpy as np
        >>> sum_squares(np.full((3, 4), 0.5, np.float32))
        3.0
    """
    flat = w.reshape(-1)
    total = 0.0
    for i in range(0, flat.size, chunk):
        c = flat[i : i + chunk].astype(np.float64)
        total += float(np.dot(c, c))
    return total


@dataclass
class MatrixStats:
    """One matrix of one checkpoint: its spectral statistics and, when known, its lr and wd.

    Attributes:
        checkpoint: the checkpoint's path.
        width: the checkpoint's width.
        name: the matrix's name.
        layer: its layer class (hidden, embedding, readout, ...).
        shape: its shape.
        sigma_max: its top singular value.
        rms: the RMS of its entries.
        stable_rank: ‖W‖_F²/σ_max².
        lr: its learning rate η_l (from the settings file), or None.
        wd: its weight decay λ_l (coupled AdamW), or None.
        flag: why the row is left out of the fits ("" when it is not).
    """

    checkpoint: str
    width: int
    name: str
    layer: str
    shape: tuple
    sigma_max: float
    rms: float
    stable_rank: float
    lr: float | None = None
    wd: float | None = None
    flag: str = ""  # why the row is left out of the fits ("" when it is not)

    @property
    def sigma_over_sqrt_lr_wd(self) -> float | None:
        if self.flag or self.lr is None or not self.wd or self.lr <= 0:
            return None
        return self.sigma_max / math.sqrt(self.lr / self.wd)

    def to_dict(self) -> dict:
        fin = lambda x: x if math.isfinite(x) else None  # noqa: E731 - JSON has no NaN: a flagged value is null
        return {
            "checkpoint": self.checkpoint,
            "width": self.width,
            "name": self.name,
            "layer": self.layer,
            "shape": list(self.shape),
            "sigma_max": fin(self.sigma_max),
            "rms": fin(self.rms),
            "stable_rank": fin(self.stable_rank),
            "lr": self.lr,
            "wd": self.wd,
            "sigma_over_sqrt_lr_wd": self.sigma_over_sqrt_lr_wd,
            "flag": self.flag,
        }


@dataclass
class Diagnosis:
    """Per-matrix statistics and the across-width fits (the answer of :func:`diagnose`).

    Attributes:
        matrices: one :class:`MatrixStats` per matrix and checkpoint.
        widths: the distinct widths.
        alpha: the PowerLawFit of the pooled hidden matrices (exponent α̂), or None.
        alpha_basis: "sigma_max/sqrt(lr/wd)" or "sigma_max/rms", what ``alpha`` was fitted to.
        alpha_rms: the σ_max/RMS fit (always, when >= 2 widths).
        stable_rank_fit: the stable rank's fit across widths.
        per_matrix: matrix name → PowerLawFit on the alpha basis.
        notes: remarks on the data (rows left out, missing settings), one line each.
        alpha_offset: mean over matrices of their mean log basis value (the pooled fit is of
            values divided by each matrix's geometric mean).
    """

    matrices: list
    widths: list
    alpha: object = None  # PowerLawFit of the pooled hidden matrices, or None
    alpha_basis: str | None = None  # "sigma_max/sqrt(lr/wd)" or "sigma_max/rms"
    alpha_rms: object = None  # the σ_max/RMS fit (always, when ≥ 2 widths)
    stable_rank_fit: object = None
    per_matrix: dict = field(default_factory=dict)  # name -> PowerLawFit (the alpha basis)
    notes: list = field(default_factory=list)
    alpha_offset: float = 0.0  # mean over matrices of their mean log basis value (the pooled
    # fit is of values divided by each matrix's geometric mean)

    @property
    def implied_rule(self) -> str | None:
        if self.alpha is None:
            return None
        a = min(1.0, max(0.5, self.alpha.exponent))
        return f"--wd-rule alignment --alignment-exponent {a:.2f}"

    def to_dict(self) -> dict:
        fit = lambda f: None if f is None else f.to_dict()  # noqa: E731
        return {
            "widths": self.widths,
            "matrices": [m.to_dict() for m in self.matrices],
            "alpha": fit(self.alpha),
            "alpha_basis": self.alpha_basis,
            "alpha_rms": fit(self.alpha_rms),
            "stable_rank_exponent": fit(self.stable_rank_fit),
            "per_matrix_alpha": {k: fit(v) for k, v in self.per_matrix.items()},
            "implied_rule": self.implied_rule,
            "notes": list(self.notes),
        }

    def table(self) -> str:
        hdr = ["width", "matrix", "class", "shape", "sigma_max", "rms", "stable_rank", "sigma/sqrt(lr/wd)"]
        flagged = any(m.flag for m in self.matrices)
        if flagged:
            hdr.append("flag")
        rows = []
        for m in self.matrices:
            r = m.sigma_over_sqrt_lr_wd
            rows.append(
                [
                    str(m.width),
                    m.name,
                    m.layer,
                    "×".join(map(str, m.shape)),
                    f"{m.sigma_max:.4g}",
                    f"{m.rms:.4g}",
                    f"{m.stable_rank:.4g}",
                    "—" if r is None else f"{r:.4g}",
                ]
                + ([m.flag] if flagged else [])
            )
        w = [max(len(x) for x in col) for col in zip(hdr, *rows)]
        fmt = lambda r: "  ".join(x.ljust(y) for x, y in zip(r, w)).rstrip()  # noqa: E731
        lines = [fmt(hdr), fmt(["-" * y for y in w])] + [fmt(r) for r in rows]
        if self.per_matrix:
            lines += ["", f"alpha per hidden matrix ({self.alpha_basis} ∝ n^alpha):"]
            for k, f in self.per_matrix.items():
                lines.append(f"  {k}: {_fit_text(f)}")
        if self.alpha is not None:
            a = self.alpha
            lines += [
                "",
                f"alpha (all hidden matrices, {self.alpha_basis}): {_fit_text(a)}"
                + (" (95% bootstrap over matrices/seeds)" if a.ci[1] > a.ci[0] else ""),
            ]
            if self.alpha_rms is not None and self.alpha_basis != "sigma_max/rms":
                lines.append(f"alpha from sigma_max/rms: {_fit_text(self.alpha_rms)}")
            if self.stable_rank_fit is not None:
                s = self.stable_rank_fit
                lines.append(f"stable-rank exponent: {_fit_text(s)}")
            lines.append(
                f"implied weight-decay rule: {self.implied_rule}   (lambda ∝ n^{2 * min(1, max(0.5, a.exponent)) - 1:.2f})"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def alpha_line(self):
        """(widths, values) of the fitted α line on the scale of the data: the pooled fit is of values
        divided by each matrix's geometric mean, so its prediction is multiplied back by the geometric
        mean of those means."""
        n = np.array(self.widths, float)
        return n, self.alpha.predict(n) * math.exp(self.alpha_offset)

    def plot(self, path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        hidden = [m for m in self.matrices if m.layer == "hidden" and not m.flag] or [
            m for m in self.matrices if not m.flag
        ]
        use_settings = self.alpha_basis == "sigma_max/sqrt(lr/wd)"
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        names = sorted({m.name for m in hidden})
        for nm in names:
            ms = sorted((m for m in hidden if m.name == nm), key=lambda m: m.width)
            y = [(m.sigma_over_sqrt_lr_wd if use_settings else m.sigma_max / m.rms) for m in ms]
            axes[0].loglog([m.width for m in ms], y, "o-", alpha=0.6, label=nm if len(names) <= 12 else None)
            axes[1].loglog([m.width for m in ms], [m.stable_rank for m in ms], "o-", alpha=0.6)
        if self.alpha is not None:
            n, line = self.alpha_line()
            axes[0].loglog(
                n,
                line,
                "k--",
                lw=2,
                label=f"alpha = {self.alpha.exponent:.2f} [{self.alpha.ci[0]:.2f}, {self.alpha.ci[1]:.2f}]",
            )
        axes[0].set(xlabel="width n", ylabel=self.alpha_basis or "sigma_max/rms", title="top singular value")
        axes[1].set(xlabel="width n", ylabel="stable rank ‖W‖_F²/σ_max²", title="stable rank")
        axes[0].legend(fontsize=6)
        fig.tight_layout()
        from mupsim.torch._figures import save_figure

        save_figure(fig, path)


def _sidecar(path):
    stem = os.path.splitext(os.fspath(path))[0]
    return stem + ".mupsim.json"


def _nonneg_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _load_settings(path):
    """A settings file (:func:`mupsim.torch.save_settings`), checked: a regular file (a FIFO or
    device is refused, not read) of UTF-8 JSON whose ``params`` map names to objects with a string
    ``layer`` and finite non-negative ``lr``/``wd``."""
    from mupsim.sim.files import open_regular

    try:
        with open_regular(path, "settings") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MupsimError(
            f"cannot read settings {path!r}: not UTF-8 text (byte {exc.start}); write it with "
            "mupsim.torch.save_settings"
        ) from None
    except RecursionError:
        raise MupsimError(f"cannot read settings {path!r}: JSON nested too deeply") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise MupsimError(f"cannot read settings {path!r}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        raise MupsimError(
            f"settings {path!r} must be JSON with a 'params' object (mupsim.torch.save_settings)"
        )
    w = doc.get("width")
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w <= 0):
        raise MupsimError(f"settings {path!r}: width must be a positive integer or null, got {w!r}")
    for name, e in doc["params"].items():
        if not isinstance(e, dict):
            raise MupsimError(
                f"settings {path!r}: params[{name!r}] must be an object with layer, lr, wd; got {e!r}"
            )
        if "layer" in e and not isinstance(e["layer"], str):
            raise MupsimError(
                f"settings {path!r}: params[{name!r}].layer must be a string, got {e['layer']!r}"
            )
        for k in ("lr", "wd"):
            if e.get(k) is not None and not _nonneg_number(e[k]):
                raise MupsimError(
                    f"settings {path!r}: params[{name!r}].{k} must be a finite number >= 0, got {e[k]!r}"
                )
        t = e.get("tied_to")
        if t is not None and not isinstance(t, str):
            raise MupsimError(
                f"settings {path!r}: params[{name!r}].tied_to must be a parameter name, got {t!r}"
            )
    return doc


def _matrix(ck, name):
    shape = ck.shape(name)
    return len(shape) >= 2 and min(shape[0], math.prod(shape[1:])) > 1 and ck.is_float(name)


def _flag(w2, ss):
    """Why a matrix cannot enter the statistics ('' when it can): non-finite entries, all zeros."""
    if not math.isfinite(ss):
        bad = ~np.isfinite(w2)
        n_nan = int(np.isnan(w2).sum())
        return f"non-finite: {n_nan} NaN, {int(bad.sum()) - n_nan} inf of {w2.size}"
    if ss == 0.0:
        return "all zero"
    return ""


def _infer_width(shapes):
    """The most common dimension size among the hidden matrices' dimensions (ties: the smaller)."""
    c = Counter(d for s in shapes for d in (s[0], math.prod(s[1:])))
    if not c:
        return None
    best = max(c.values())
    return min(d for d, k in c.items() if k == best)


def _pooled_fit(widths, values_by_name, n_boot, seed, offset=False):
    """Fit log values normalised per matrix (mean log over its runs removed): a common exponent.

    ``offset=True``: also return the mean over matrices of the removed mean logs."""
    ws, ys, mus = [], [], []
    for _name, pairs in values_by_name.items():
        good = [(w, v) for w, v in pairs if v is not None and v > 0 and math.isfinite(v)]
        if len({w for w, _ in good}) < 2:
            continue
        mu = float(np.mean([math.log(v) for _, v in good]))
        mus.append(mu)
        for w, v in good:
            ws.append(w)
            ys.append(math.exp(math.log(v) - mu))
    fit = power_law_fit(ws, ys, n_boot=n_boot, seed=seed) if len(set(ws)) >= 2 else None
    if offset:
        return fit, (float(np.mean(mus)) if mus else 0.0)
    return fit


def _fit_text(f) -> str:
    """'0.812 [0.790, 0.835]', or the exponent alone when the bootstrap has nothing to resample
    (one value per width: a zero-width 'interval' would be no interval at all)."""
    if not f.ci[1] > f.ci[0]:
        return f"{f.exponent:.3f} (no interval: one value per width)"
    return f"{f.exponent:.3f} [{f.ci[0]:.3f}, {f.ci[1]:.3f}]"


def diagnose(
    paths, widths=None, settings=None, *, tol: float = 1e-4, n_boot: int = 2000, seed: int = 0, progress=None
) -> Diagnosis:
    """Spectral diagnostic of the matrices in ``paths`` (one checkpoint per width and seed).

    ``widths``: one integer per checkpoint (default: the settings file's ``width``, else the most
    common dimension of the checkpoint's hidden matrices). ``settings``: one settings JSON path (or
    None) per checkpoint (default: ``<stem>.mupsim.json`` when it exists). Hidden matrices are those
    the settings call ``hidden``, else those whose two dimensions both differ across checkpoints.
    With the settings' lr and wd, α̂ is fitted to σ_max/√(η_l/λ_l) (the steady-state scale of a
    coupled-AdamW matrix), else to σ_max/RMS; either way σ_max ∝ n^α̂ on that basis.

    Args:
        paths: checkpoint files (``.safetensors``; ``.pt`` needs torch).
        widths: one integer per checkpoint, or None.
        settings: one settings JSON path (or None) per checkpoint, or None.
        tol: the relative tolerance of :func:`sigma_max`.
        n_boot: bootstrap resamples of the fits' intervals.
        seed: seeds the bootstrap.
        progress: a callable given one line per checkpoint read, or None.

    Returns:
        Diagnosis: per-matrix statistics and the fitted exponents.

    Raises:
        MupsimError: no checkpoints, mismatched ``widths``/``settings`` lengths, or an
            unreadable checkpoint or settings file.

    Examples:
        >>> import numpy as np
        >>> from mupsim.torch.checkpoints import write_safetensors
        >>> paths = []
        >>> for n in (64, 128, 256):  # rank-one matrices: σ_max/RMS = n, so α = 1
        ...     write_safetensors(f"w{n}.safetensors", {"h.weight": np.ones((n, n), np.float32)})
        ...     paths.append(f"w{n}.safetensors")
        >>> d = diagnose(paths, n_boot=100)
        >>> d.widths, d.alpha_basis, round(d.alpha_rms.exponent, 3)
        ([64, 128, 256], 'sigma_max/rms', 1.0)
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise MupsimError("diagnose needs at least one checkpoint")
    if widths is not None and len(widths) != len(paths):
        raise MupsimError(f"give one width per checkpoint: {len(paths)} checkpoints, {len(widths)} widths")
    if settings is not None and len(settings) != len(paths):
        raise MupsimError(
            f"give one settings file per checkpoint: {len(paths)} checkpoints, {len(settings)} files"
        )
    cks = [Checkpoint(p) for p in paths]
    docs = []
    for i, p in enumerate(paths):
        s = settings[i] if settings is not None else (_sidecar(p) if os.path.isfile(_sidecar(p)) else None)
        docs.append(_load_settings(s) if s else None)
    common = [n for n in cks[0].names if all(n in c.names for c in cks) and all(_matrix(c, n) for c in cks)]
    if not common:
        found = Counter(ck.dtype(n) for ck in cks for n in ck.names)
        raise MupsimError(
            "no ≥2-D floating-point tensor (F64/F32/F16/BF16; in .pt files any torch float) with the "
            "same name is present in every checkpoint; found dtypes: "
            + (", ".join(f"{k} ×{v}" for k, v in sorted(found.items())) or "none")
        )
    # tied weights: one row per tensor (the name the settings or the checkpoint keeps first)
    tied = {}
    for i, ck in enumerate(cks):
        tied.update(ck.aliases())
        if docs[i] is not None:
            tied.update({n: e["tied_to"] for n, e in docs[i]["params"].items() if e.get("tied_to") in common})
    common = [n for n in common if tied.get(n) not in common]

    def flat(shape):
        return (shape[0], math.prod(shape[1:]))

    def layer_of(i, name):
        d = docs[i]
        if d is not None and name in d["params"]:
            return d["params"][name].get("layer", "?")
        if len(cks) > 1:
            shapes = {flat(c.shape(name)) for c in cks}
            rows = {s[0] for s in shapes}
            cols = {s[1] for s in shapes}
            # a raw checkpoint does not say which dimension is fan-in (nn.Embedding stores
            # (vocab, n), nn.Linear (out, in)): one growing dimension is embedding or readout
            grows = (len(rows) > 1) + (len(cols) > 1)
            return ("fixed", "embedding|readout", "hidden")[grows]
        return "?"

    ws = []
    for i, ck in enumerate(cks):
        if widths is not None:
            w = widths[i]
        elif docs[i] is not None and docs[i].get("width"):
            w = docs[i]["width"]
        else:
            hid = [ck.shape(n) for n in common if layer_of(i, n) == "hidden"] or [ck.shape(n) for n in common]
            w = _infer_width(hid)
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w <= 0:
            raise MupsimError(f"width of {paths[i]!r} must be a positive integer, got {w!r}")
        ws.append(int(w))
    mats, notes = [], []
    for i, ck in enumerate(cks):
        for name in common:
            arr = ck.get(name)
            if arr is None:
                continue
            w2 = arr.reshape(flat(arr.shape))
            ss = sum_squares(w2)
            flag = _flag(w2, ss)
            smax = float("nan") if flag.startswith("non-finite") else 0.0
            if not flag:
                try:
                    smax = sigma_max(w2, tol=tol, seed=seed)
                except np.linalg.LinAlgError as exc:
                    flag, smax = f"SVD failed: {exc}", float("nan")
            lr = wd = None
            d = docs[i]
            if d is not None and name in d["params"]:
                lr, wd = d["params"][name].get("lr"), d["params"][name].get("wd")
            rms = math.sqrt(ss / arr.size) if math.isfinite(ss) else float("nan")
            mats.append(
                MatrixStats(
                    paths[i],
                    ws[i],
                    name,
                    layer_of(i, name),
                    tuple(arr.shape),
                    smax,
                    rms,
                    (ss / smax**2) if smax > 0 else float("nan"),
                    lr,
                    wd,
                    flag,
                )
            )
            del arr, w2
            if progress is not None:
                progress(paths[i], name)
    diag = Diagnosis(mats, sorted(set(ws)), notes=notes)
    flagged = [m for m in mats if m.flag]
    if flagged:
        notes.append(
            f"{len(flagged)} matrix row(s) flagged (non-finite or all-zero weights: a diverged or "
            "untrained checkpoint?) and left out of every fit"
        )
    if len(set(ws)) < 2:
        notes.append("one width only: no exponent can be fitted (give checkpoints at ≥ 2 widths)")
        return diag
    hidden = [m for m in mats if m.layer == "hidden" and not m.flag]
    if not hidden:
        notes.append(
            "no hidden matrix with finite, non-zero weights found"
            if any(m.layer == "hidden" for m in mats)
            else "no hidden matrix found (none has both dimensions growing with width)"
        )
        return diag

    def by(f):
        return {
            n: [(m.width, f(m)) for m in hidden if m.name == n] for n in dict.fromkeys(m.name for m in hidden)
        }

    with_settings = all(m.sigma_over_sqrt_lr_wd is not None for m in hidden)
    basis = by(lambda m: m.sigma_over_sqrt_lr_wd) if with_settings else by(lambda m: m.sigma_max / m.rms)
    diag.alpha_basis = "sigma_max/sqrt(lr/wd)" if with_settings else "sigma_max/rms"
    if not with_settings:
        notes.append(
            "no settings (η_l, λ_l) for every hidden matrix: alpha is the exponent of sigma_max/rms; "
            "write <checkpoint>.mupsim.json with mupsim.torch.save_settings for Fan et al.'s sigma_max/sqrt(lr/wd)"
        )
    for n, pairs in basis.items():
        pairs = [(w, v) for w, v in pairs if v is not None and v > 0 and math.isfinite(v)]
        if len({w for w, _ in pairs}) >= 2:
            diag.per_matrix[n] = power_law_fit(
                [w for w, _ in pairs], [v for _, v in pairs], n_boot=n_boot, seed=seed
            )
    diag.alpha, diag.alpha_offset = _pooled_fit(ws, basis, n_boot, seed, offset=True)
    diag.alpha_rms = _pooled_fit(ws, by(lambda m: m.sigma_max / m.rms), n_boot, seed)
    diag.stable_rank_fit = _pooled_fit(ws, by(lambda m: m.stable_rank), n_boot, seed)
    if diag.alpha is not None and not 0.5 <= diag.alpha.exponent <= 1.0:
        notes.append(
            f"alpha = {diag.alpha.exponent:.3f} lies outside [1/2, 1], where the alignment rule is derived; "
            "the implied rule uses the nearest end"
        )
    return diag
