"""Power-law fits y ∝ n^p on log–log axes with a bootstrap over seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from mupsim.errors import MupsimError, float_array, real


def percentile_interval(samples, level: float = 0.95) -> tuple[float, float]:
    """Central percentile interval of ``samples`` (NaNs ignored).

    Args:
        samples: numbers (any shape).
        level: the interval's coverage, in (0, 1).

    Returns:
        (low, high); (nan, nan) if no sample is finite.

    Raises:
        MupsimError: ``samples`` not numbers, or ``level`` outside (0, 1).

    Examples:
        >>> percentile_interval([1, 2, 3, 4, 5, float("nan")], level=0.5)
        (2.0, 4.0)
    """
    s = float_array(samples, "samples").ravel()
    level = real(level, "level")
    if not 0 < level < 1:
        raise MupsimError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    s = s[np.isfinite(s)]
    if s.size == 0:
        return (float("nan"), float("nan"))
    q = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(s, [q, 100.0 - q])
    return (float(lo), float(hi))


def _ols_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis (y may be 2-D: [B, W])."""
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    return (yc * xc).sum(axis=-1) / (xc * xc).sum()


class BootstrapRecord:
    """Mixin for result records with a bootstrap sample ``boot`` and an interval ``ci``.

    ``to_dict`` drops the sample and returns the interval as a list (JSON-friendly).
    """

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("boot", None)
        d["ci"] = list(self.ci)
        return d


@dataclass
class PowerLawFit(BootstrapRecord):
    """Result of :func:`power_law_fit`: y ≈ prefactor · n^exponent.

    ``ci`` is the bootstrap percentile interval from resampling seeds within each width (it
    says nothing about curvature of log y vs log n; ``local_exponents`` between consecutive
    widths show that); (nan, nan) when some width has a single value (nothing to resample
    there: the interval would be too narrow, or of zero width).

    Attributes:
        exponent: p of y ∝ n^p.
        prefactor: y at n = 1 on the fitted line.
        ci: the bootstrap percentile interval of ``exponent`` (see above).
        widths: the distinct widths.
        geo_mean: the geometric mean of y at each width.
        n_per_width: values used at each width.
        local_exponents: the slope between consecutive widths.
        se_resid: the ordinary least-squares standard error of the slope from the residuals of
            the per-width means about the line (nan with only 2 widths).
        n_dropped: non-finite or non-positive values left out.
        level: the interval's coverage.
        boot: the bootstrap slopes (not in ``to_dict()``).
    """

    exponent: float
    prefactor: float
    ci: tuple[float, float]
    widths: list[float]
    geo_mean: list[float]  # geometric mean of y at each width
    n_per_width: list[int]
    local_exponents: list[float]  # slope between consecutive widths
    se_resid: float
    n_dropped: int = 0  # non-finite or non-positive values left out
    level: float = 0.95
    boot: np.ndarray = field(default=None, repr=False)

    def predict(self, n) -> np.ndarray:
        """prefactor · n^exponent at widths ``n`` (a float array)."""
        return self.prefactor * np.asarray(n, dtype=float) ** self.exponent


MAX_BOOT = 1_000_000
"""Largest number of bootstrap resamples power_law_fit accepts (memory n_boot × widths)."""


def power_law_fit(widths, values, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> PowerLawFit:
    """Fit y ∝ n^p by least squares on log–log axes, with a seed bootstrap for p.

    ``widths`` and ``values`` are equal-length 1-D sequences, one entry per run (several runs —
    seeds — per width). The point estimate is the OLS slope of the per-width mean of log y on
    log n. The interval resamples, independently within each width, the runs at that width
    with replacement, recomputes the per-width means and the slope, and takes the central
    ``level`` percentile interval over ``n_boot`` resamples. Non-finite or non-positive values
    (e.g. diverged runs) are left out and counted in ``n_dropped``.

    Args:
        widths: the width n of each run.
        values: the value y of each run.
        n_boot: bootstrap resamples (1..MAX_BOOT).
        level: the interval's coverage, in (0, 1).
        seed: seeds the bootstrap (an integer >= 0).

    Returns:
        PowerLawFit: the exponent, prefactor, interval and per-width summaries.

    Raises:
        MupsimError: unequal lengths, an invalid ``n_boot``/``level``/``seed``, or fewer than
            2 distinct widths with finite positive values.

    Examples:
        >>> fit = power_law_fit([64, 64, 256, 256, 1024, 1024], [8, 8.8, 16, 17.6, 32, 35.2])
        >>> round(fit.exponent, 6), fit.n_per_width
        (0.5, [2, 2, 2])
    """
    n = float_array(widths, "widths").ravel()
    y = float_array(values, "values").ravel()
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or not 1 <= n_boot <= MAX_BOOT:
        raise MupsimError(f"n_boot must be an integer in 1..{MAX_BOOT}; got {n_boot!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) or not 0 < level < 1:
        raise MupsimError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MupsimError(f"seed must be an integer >= 0; got {seed!r}")
    if n.shape != y.shape:
        raise MupsimError(f"widths and values must have equal length; got {n.size} and {y.size}")
    good = np.isfinite(y) & (y > 0) & np.isfinite(n) & (n > 0)
    n_dropped = int((~good).sum())
    n, y = n[good], y[good]
    uw = np.unique(n)
    if uw.size < 2:
        raise MupsimError(
            f"power_law_fit needs finite positive values at >= 2 distinct widths; "
            f"got widths {sorted(set(np.asarray(widths, float).ravel().tolist()))} "
            f"with {n_dropped} value(s) dropped"
        )
    x = np.log(uw)
    groups = [np.log(y[n == w]) for w in uw]
    means = np.array([g.mean() for g in groups])
    slope = float(_ols_slope(x, means))
    intercept = float(means.mean() - slope * x.mean())

    rng = np.random.default_rng(seed)
    boot_means = np.empty((n_boot, uw.size))
    for j, g in enumerate(groups):
        idx = rng.integers(0, g.size, size=(n_boot, g.size))
        boot_means[:, j] = g[idx].mean(axis=1)
    boot = _ols_slope(x, boot_means)
    ci = percentile_interval(boot, level)
    if min(g.size for g in groups) < 2:  # a width with one value has no seed spread to resample:
        ci = (float("nan"), float("nan"))  # the percentile interval would understate (or be 0)

    if uw.size > 2:
        resid = means - (intercept + slope * x)
        s2 = (resid**2).sum() / (uw.size - 2)
        se = float(np.sqrt(s2 / ((x - x.mean()) ** 2).sum()))
    else:
        se = float("nan")
    local = np.diff(means) / np.diff(x)
    return PowerLawFit(
        exponent=slope,
        prefactor=float(np.exp(intercept)),
        ci=ci,
        widths=uw.tolist(),
        geo_mean=np.exp(means).tolist(),
        n_per_width=[int(g.size) for g in groups],
        local_exponents=local.tolist(),
        se_resid=se,
        n_dropped=n_dropped,
        level=level,
        boot=boot,
    )
