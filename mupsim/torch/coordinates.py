"""Coordinate check for a real model: per-module activation RMS across widths after a few steps.

For every width (and seed) the model is built, trained ``steps`` steps on ``batches``
(batch t = ``batches[t % len(batches)]``) and at every forward — steps 0…steps, the last one
without an update — the RMS of each leaf module's output is recorded by a forward hook. Under a
correct parameterization every RMS is flat in width (slope ≈ 0 on log–log axes); a slope > 0
means activations blow up with width. This is the simulator's F6 for a ``torch.nn.Module``.
A flat check is necessary, not sufficient, for transfer (mup #22, #66): check the optimum too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mupsim.analysis.stats import power_law_fit
from mupsim.errors import MupsimError


@dataclass
class CoordCheck:
    """Records (width, seed, step, module, rms) and the fitted slope per module at each step.

    The slope is the exponent x of RMS ∝ n^x across widths (0: the activation's size does not
    change with width, what μP wants for every hidden activation).
    """

    records: list
    widths: list
    steps: int
    modules: list
    slopes: dict = field(default_factory=dict)  # module -> PowerLawFit at the last step

    def rms(self, module: str, step: int | None = None) -> dict:
        """{width: mean RMS over seeds} for ``module`` at ``step`` (default: the last).

        Args:
            module: a recorded module's name.
            step: a recorded step, or None for the last.

        Returns:
            {width: mean RMS}.
        """
        step = self.steps if step is None else step
        out = {}
        for w in self.widths:
            v = [r[4] for r in self.records if r[0] == w and r[2] == step and r[3] == module]
            out[w] = float(np.mean(v)) if v else float("nan")
        return out

    def slope_at(self, module: str, step: int):
        pts = [(r[0], r[4]) for r in self.records if r[2] == step and r[3] == module]
        return power_law_fit([w for w, _ in pts], [v for _, v in pts], n_boot=500)

    def table(self) -> str:
        hdr = ["module"] + [f"n={w}" for w in self.widths] + ["slope", "95% CI"]
        rows = []
        for m in self.modules:
            r = self.rms(m)
            f = self.slopes.get(m)
            rows.append(
                [m]
                + [f"{r[w]:.3g}" for w in self.widths]
                + (
                    [
                        f"{f.exponent:+.3f}",
                        f"[{f.ci[0]:+.2f}, {f.ci[1]:+.2f}]" if f.ci[1] > f.ci[0] else "no interval (1 seed)",
                    ]
                    if f
                    else ["—", "—"]
                )
            )
        w = [max(len(x) for x in col) for col in zip(hdr, *rows)]
        fmt = lambda r: "  ".join(x.ljust(y) for x, y in zip(r, w)).rstrip()  # noqa: E731
        return "\n".join(
            [
                f"activation RMS after {self.steps} steps (slope: exponent of n)",
                fmt(hdr),
                fmt(["-" * y for y in w]),
            ]
            + [fmt(r) for r in rows]
        )

    def to_dict(self) -> dict:
        return {
            "widths": self.widths,
            "steps": self.steps,
            "modules": self.modules,
            "records": [dict(zip(("width", "seed", "step", "module", "rms"), r)) for r in self.records],
            "slopes": {k: v.to_dict() for k, v in self.slopes.items()},
        }

    def plot(self, path, title: str = "coordinate check") -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, step in zip(axes, (0, self.steps)):
            for m in self.modules:
                r = self.rms(m, step)
                ax.loglog(list(r), list(r.values()), "o-", ms=3, label=m)
            ax.set(xlabel="width n", title=f"{title}: step {step}")
        axes[0].set_ylabel("activation RMS")
        axes[1].legend(fontsize=6, loc="best")
        fig.tight_layout()
        from mupsim.torch._figures import save_figure

        save_figure(fig, path)


def _leaf_modules(model):
    return [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]


def coord_check(
    make_model, widths, batches, *, loss_fn, make_optimizer, steps: int = 3, seeds=(0,), modules=None
) -> CoordCheck:
    """Activation RMS of every leaf module after 0…``steps`` training steps at each width.

    ``make_model(width)`` → module (seeded with ``torch.manual_seed(seed)`` before each call);
    ``make_optimizer(model, width)`` → an optimizer or a list of them (e.g. from
    :func:`mupsim.torch.make_optimizers`); ``loss_fn(model, batch)`` → scalar loss;
    ``modules``: names to record (default: every leaf module with a tensor output).

    Args:
        make_model: width → module.
        widths: the widths to compare.
        batches: the training batches, one per step (reused in turn).
        loss_fn: (model, batch) → scalar loss.
        make_optimizer: (model, width) → optimizer(s).
        steps: training steps after the first record.
        seeds: one run per seed and width.
        modules: names to record, or None.

    Returns:
        CoordCheck: the records, their fitted slopes, ``table()`` and ``plot(path)``.

    Examples:
        >>> import torch
        >>> from mupsim.torch import make_optimizers, param_groups
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> x, y = torch.ones(8, 4), torch.zeros(8, 2)
        >>> def loss_fn(model, batch):
        ...     return ((model(batch[0]) - batch[1]) ** 2).mean()
        >>> def make_optimizer(model, width):
        ...     return make_optimizers(param_groups(model, mlp(16), lr=1e-2, delta_model=mlp(32)))
        >>> cc = coord_check(mlp, [16, 64], [(x, y)], loss_fn=loss_fn,
        ...                  make_optimizer=make_optimizer, steps=2)
        >>> sorted(cc.rms("2"))
        [16, 64]
    """
    widths = sorted(int(w) for w in widths)
    if len(set(widths)) < 2:
        raise MupsimError(f"coord_check needs at least 2 distinct widths, got {widths}")
    batches = list(batches)
    if not batches:
        raise MupsimError("coord_check needs at least one batch")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise MupsimError(f"steps must be a positive integer, got {steps!r}")
    records, names_seen = [], []
    for w in widths:
        for seed in seeds:
            torch.manual_seed(seed)
            model = make_model(w)
            if not isinstance(model, nn.Module):
                raise MupsimError(f"make_model({w}) returned {type(model).__name__}, not a torch.nn.Module")
            opts = make_optimizer(model, w)
            opts = list(opts) if isinstance(opts, (list, tuple)) else [opts]
            leaves = [(n, m) for n, m in _leaf_modules(model) if modules is None or n in modules]
            current = {}

            def hook(name):
                def f(_m, _i, out):
                    if isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel():
                        current[name] = float(out.detach().float().pow(2).mean().sqrt())

                return f

            handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
            try:
                model.train()
                for t in range(steps + 1):
                    current.clear()
                    batch = batches[t % len(batches)]
                    loss = loss_fn(model, batch)
                    if not torch.isfinite(loss):
                        raise MupsimError(
                            f"loss is not finite at width {w}, step {t}: lower the learning rate"
                        )
                    for n, v in current.items():
                        records.append((w, seed, t, n, v))
                        if n not in names_seen:
                            names_seen.append(n)
                    if t < steps:
                        for o in opts:
                            o.zero_grad(set_to_none=True)
                        loss.backward()
                        for o in opts:
                            o.step()
            finally:
                for h in handles:
                    h.remove()
    cc = CoordCheck(records, widths, steps, names_seen)
    for m in names_seen:
        pts = [(r[0], r[4]) for r in records if r[2] == steps and r[3] == m]
        if len({w for w, _ in pts}) >= 2 and all(v > 0 for _, v in pts):
            cc.slopes[m] = power_law_fit([w for w, _ in pts], [v for _, v in pts], n_boot=500)
    return cc
