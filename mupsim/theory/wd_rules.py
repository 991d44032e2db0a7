"""Weight-decay rules: how the base λ scales with width, one frozen record per rule.

Every exponent is the w of λ_l = λ·n^{-w} (lr-scaled decay, PyTorch AdamW: per-step decay η_lλ_l).
A rule's ``kind`` is what the theory dispatches on (``steady_state.derive_weight_decay``,
``depth.derive_depth``, the calculator's batch factor), never its name:

- ``constant``: the same λ at every width (w = 0).
- ``timescale``: the per-step decay η_lλ_l is width-free (w = −c).
- ``epoch``: as ``timescale`` in width, times the batch/data factor (B/B0)·(D0/D) that keeps
  τ_epoch = B/(η_lλ_l D) of a base run (``horizon.derive_tau_epoch``).
- ``steady_state``: the steady-state norm balance keeps the spectral condition, with σ_max ≈
  RMS·n^α; ``alpha`` fixes α (None: the caller's ``alignment_exponent``), ``decayed`` names the
  matrices that get a decay at all (the others get λ = 0).

Help text, plot labels and colours, validation and the simulator's accepted rules all read
this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from mupsim.errors import MupsimError, choice

KINDS = ("constant", "timescale", "epoch", "steady_state")
MATRICES = ("embedding", "hidden", "readout")


@dataclass(frozen=True)
class WdRule:
    """One weight-decay rule.

    ``needs``: the calculator arguments the rule requires, in words (help and errors);
    ``alpha``: the fixed alignment exponent of a steady-state rule (None: given by the caller);
    ``decayed``: matrix layer classes with a decay (vectors are never decayed);
    ``sim_unsupported``: why the simulator cannot run the rule ("" when it can).
    """

    name: str
    description: str
    kind: str
    label: str
    color: str
    needs: str = ""
    alpha: Fraction | None = None
    decayed: tuple[str, ...] = MATRICES
    sim_unsupported: str = ""

    @property
    def simulated(self) -> bool:
        """Whether :class:`mupsim.sim.config.SimConfig` accepts the rule."""
        return not self.sim_unsupported

    @property
    def takes_alignment_exponent(self) -> bool:
        """A steady-state rule whose α the caller gives (``alignment_exponent``)."""
        return self.kind == "steady_state" and self.alpha is None

    def plot_label(self, alignment_exponent=None) -> str:
        """The label of a run under this rule in figures (α̂ appended where the caller gave it)."""
        if self.takes_alignment_exponent and alignment_exponent is not None:
            return f"{self.label}(α̂={alignment_exponent:g})"
        return self.label


WD_RULES: dict[str, WdRule] = {
    r.name: r
    for r in (
        WdRule(
            "constant",
            "the same λ at every width for every matrix (nanoGPT-μP, Megatron)",
            "constant",
            "constant",
            "#d62728",
        ),
        WdRule(
            "fan2025",
            "steady-state balance at σ_max ≈ RMS·n^(3/4), hidden matrices only (Fan et al. 2025)",
            "steady_state",
            "fan2025",
            "#1f77b4",
            alpha=Fraction(3, 4),
            decayed=("hidden",),
        ),
        WdRule(
            "timescale",
            "width-free per-step decay η_l·λ_l (Wang & Aitchison 2024; the mup package's MuAdamW)",
            "timescale",
            "timescale",
            "#2ca02c",
        ),
        WdRule(
            "alignment",
            "steady-state balance at σ_max ≈ RMS·n^α, every matrix (needs alignment_exponent α)",
            "steady_state",
            "alignment",
            "#9467bd",
            needs="an alignment exponent α in [1/2, 1]",
        ),
        WdRule(
            "tau_epoch",
            "timescale in width, times (B/B0)·(D0/D) keeping τ_epoch of a base run (Wang & Aitchison 2024)",
            "epoch",
            "tau_epoch",
            "#8c564b",
            needs="batch_size and base_batch_size, and tokens and base_tokens or steps and base_steps",
            sim_unsupported="scales λ with the batch size and dataset size of a base run, which a "
            "simulation config does not have",
        ),
    )
}
"""Every weight-decay rule, by name."""

assert all(r.kind in KINDS for r in WD_RULES.values())
assert all(set(r.decayed) <= set(MATRICES) for r in WD_RULES.values())

SIM_WD_RULES: tuple[str, ...] = tuple(n for n, r in WD_RULES.items() if r.simulated)
"""The rules the simulator runs."""


def get(name: str) -> WdRule:
    """The rule called ``name`` (case-insensitive, ``-`` = ``_``); MupsimError listing the rules."""
    return WD_RULES[choice("wd rule", name, WD_RULES)]


def help_text(names=None) -> str:
    """One line per rule, ``name: description`` (for CLI help), for ``names`` (default: all)."""
    return "; ".join(f"{n}: {WD_RULES[n].description}" for n in (names or WD_RULES))


def parse_layer_rules(wd_rule) -> tuple[str | None, tuple[tuple[str, str], ...] | None]:
    """A rule for every matrix layer class: ``wd_rule`` a rule name (or None), or a dict matrix
    layer → rule name with ``hidden`` present (embedding and readout default to hidden's rule).

    Returns (hidden's rule name or None, the sorted (layer, rule) pairs that differ from it or
    None), canonical spellings.
    """
    if not isinstance(wd_rule, dict):
        return (None if wd_rule is None else get(wd_rule).name), None
    bad = [k for k in wd_rule if k not in MATRICES]
    if bad:
        raise MupsimError(
            f"wd rule per layer: unknown layer(s) {bad}; allowed: {', '.join(MATRICES)} "
            "(vector-like parameters are never decayed)"
        )
    if wd_rule.get("hidden") is None:
        raise MupsimError(
            f"wd rule per layer needs a rule for 'hidden' (got {wd_rule!r}); "
            f"allowed rules: {', '.join(WD_RULES)}"
        )
    hidden = get(wd_rule["hidden"]).name
    others = {}
    for layer in ("embedding", "readout"):
        v = wd_rule.get(layer)
        if v is None:
            continue
        name = get(v).name
        if name != hidden:
            others[layer] = name
    return hidden, (tuple(sorted(others.items())) or None)
