"""Singular spectra: normalisation by √(η/λ) and a collapse metric (claim C1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mupsim.errors import MupsimError, float_array, real


def normalized_spectrum(singular_values, lr: float, wd: float) -> np.ndarray:
    """Singular values sorted descending and divided by √(lr/wd) (the steady-state scale)."""
    lr, wd = real(lr, "lr"), real(wd, "wd")
    if not (0 < lr < np.inf and 0 < wd < np.inf):
        raise MupsimError(f"normalising by sqrt(lr/wd) needs finite lr > 0 and wd > 0; got {lr}, {wd}")
    s = np.sort(float_array(singular_values, "singular_values").ravel())[::-1]
    return s / np.sqrt(lr / wd)


@dataclass
class Collapse:
    """How well a set of spectra coincide after dividing each by its scale.

    ``max_rel_dev``: max over spectra i and compared indices k of |s_ik / ref_k − 1|, where
    ref is the geometric mean over spectra and the compared indices are those of the top
    ``top_fraction`` of the spectrum whose ref value is at least ``rel_floor``·ref_1 (the bulk:
    trailing singular values that weight decay drives towards 0 — directions the gradient never
    feeds — have huge relative deviations that say nothing about the claim). ``per_spectrum``: the same max
    for each spectrum. ``top_rel_dev``: the deviation of σ_max alone. ``shape_max_rel_dev``:
    the deviation after dividing every spectrum by its own σ_max (the shape only).
    """

    max_rel_dev: float
    per_spectrum: list[float]
    top_rel_dev: float
    shape_max_rel_dev: float
    n_compared: int

    def to_dict(self) -> dict:
        return asdict(self)


def _max_rel_dev(S: np.ndarray) -> tuple[float, np.ndarray]:
    ref = np.exp(np.log(S).mean(axis=0))
    dev = np.abs(S / ref - 1.0)
    per = dev.max(axis=1)
    return float(per.max()), per


def spectral_collapse(
    spectra, scales=None, *, top_fraction: float = 1.0, rel_floor: float = 0.05
) -> Collapse:
    """Collapse metric of several singular spectra, each divided by its ``scales`` entry.

    ``spectra``: sequence of 1-D arrays of equal length (one matrix, several runs), any order.
    ``scales``: one positive number per spectrum (e.g. √(η/λ)); None means 1 (raw spectra).
    """
    if not isinstance(spectra, (list, tuple)) and getattr(spectra, "ndim", 0) < 1:
        raise MupsimError("spectra must be a list, tuple or array of spectra (1-d arrays)")
    S = [np.sort(float_array(s, "each spectrum").ravel())[::-1] for s in spectra]
    if len(S) < 2:
        raise MupsimError(f"spectral_collapse needs at least 2 spectra; got {len(S)}")
    lengths = {s.size for s in S}
    if len(lengths) != 1:
        raise MupsimError(f"spectra must have equal length to be compared; got {sorted(lengths)}")
    if not 0 < real(top_fraction, "top_fraction") <= 1:
        raise MupsimError(f"top_fraction must be in (0, 1]; got {top_fraction}")
    S = np.vstack(S)
    if scales is not None:
        sc = float_array(scales, "scales").ravel()
        if sc.size != S.shape[0] or np.any(~(sc > 0)):
            raise MupsimError("scales must be one positive number per spectrum")
        S = S / sc[:, None]
    if not 0 <= real(rel_floor, "rel_floor") < 1:
        raise MupsimError(f"rel_floor must be in [0, 1); got {rel_floor}")
    k = max(1, int(np.ceil(top_fraction * S.shape[1])))
    S = S[:, :k]
    if not np.all(np.isfinite(S[:, :1])) or np.any(S[:, :1] <= 0):
        raise MupsimError("spectra have a non-finite or non-positive top singular value")
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.exp(np.log(np.where(S > 0, S, np.nan)).mean(axis=0))
    keep = np.isfinite(ref) & (ref >= rel_floor * ref[0]) & np.all(np.isfinite(S) & (S > 0), 0)
    keep[0] = True
    k = S.shape[1] if keep.all() else int(np.argmin(keep))  # leading run of kept indices
    S = S[:, :k]
    full, per = _max_rel_dev(S)
    top, _ = _max_rel_dev(S[:, :1])
    shape, _ = _max_rel_dev(S / S[:, :1])
    return Collapse(
        max_rel_dev=full, per_spectrum=per.tolist(), top_rel_dev=top, shape_max_rel_dev=shape, n_compared=k
    )
