"""Everett et al.'s linear program for the learning-rate exponents, checked by brute force.

The brute force below does not use the program's constraint list: it re-implements the
r-recursion (activation-change exponents after one step) for explicit depths and scans a
grid of exponents in steps of 1/2 (exact in floating point), so it checks both the
expansion of the min-terms into linear constraints and the solver.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest

import mupsim
from mupsim import MupsimError

ORDER = ("embedding", "hidden", "readout", "bias", "norm_gain")
GRID = np.arange(-3.0, 2.01, 0.5)
DEPTHS = range(1, 7)


def _beta(kind, a, b, c, gamma):
    """Exponent of ΔW's coordinates (entry-wise optimizers)."""
    return {"gradient": 2 * a + c + gamma, "normalized": a + c, "relative": a + b + c}[kind]


# Muon (orthogonalised, full rank): RMS change of the output, exponent a + c + (d_out − d_in)/2
# + (1 − x)·max(d_in − d_out, 0) for alignment x — the hidden and embedding changes do not depend on x
SPECTRAL = {
    "embedding": lambda a, c, x: a + c + 0.5,
    "hidden": lambda a, c, x: a + c,
    "readout": lambda a, c, x: a + c - 0.5 + (1 - x),
}
FAN_IN = {"embedding": 0, "hidden": 1, "readout": 1}


def _kinds(optimizer):
    base = {
        "sgd": "gradient",
        "adam": "normalized",
        "adamw": "normalized",
        "lion": "normalized",
        "adafactor": "relative",
        "muon": "normalized",
        "muon_all": "normalized",
    }[optimizer]
    kinds = dict.fromkeys(ORDER, base)
    if optimizer == "muon":
        kinds["hidden"] = "spectral"
    if optimizer == "muon_all":
        kinds.update(embedding="spectral", hidden="spectral", readout="spectral")
    return kinds


def _own_cross(kind, layer, a, b, c, gamma, al, u):
    if kind == "spectral":
        return SPECTRAL[layer](a, c, al), SPECTRAL[layer](a, c, u)
    beta = _beta(kind, a, b, c, gamma)
    return beta - al * FAN_IN.get(layer, 0), beta - u * FAN_IN.get(layer, 0)


def _stable(e, optimizer, c, align):
    """Vectorised: is every r_l ≥ 0 at every depth, for arrays of c per layer."""
    L = e.layers
    a = {l: float(L[l].multiplier) for l in ORDER}
    b = {l: float(L[l].init_std) for l in ORDER}
    k = _kinds(optimizer)
    aR, bR = a["readout"], b["readout"]
    al, om, u = align
    entries_R = (
        aR + c["readout"] + 0.5
        if k["readout"] == "spectral"
        else _beta(k["readout"], aR, bR, c["readout"], 0.0)
    )
    g = np.minimum(aR + bR, entries_R)
    own, cross = {}, {}
    for l in ORDER:
        own[l], cross[l] = _own_cross(
            k[l], l, a[l], b[l], c[l], 0.0 if l == "readout" else g, al.get(l, 1.0), u.get(l, 1.0)
        )
    ok = own["embedding"] >= 0
    for depth in DEPTHS:
        r = own["embedding"]
        for _ in range(depth):
            r = np.minimum.reduce(
                [
                    own["hidden"],
                    cross["hidden"] + r,
                    a["hidden"] + b["hidden"] + r - om["hidden"],
                    own["bias"],
                    own["norm_gain"],
                ]
            )
            ok &= r >= 0
        rR = np.minimum.reduce([aR + bR + r - om["readout"], own["readout"], cross["readout"] + r])
        ok &= rR >= 0
    return ok


def _brute_force(e, optimizer, align):
    mesh = np.meshgrid(*([GRID] * len(ORDER)), indexing="ij")
    c = {l: m.ravel() for l, m in zip(ORDER, mesh)}
    ok = _stable(e, optimizer, c, align)
    total = sum(c[l] for l in ORDER)
    best = total[ok].min()
    idx = np.flatnonzero(ok & (total == best))
    # the program's tie-break: lexicographically smallest (embedding, hidden, readout, bias, norm gain)
    cand = sorted(tuple(c[l][i] for l in ORDER) for i in idx)
    return best, cand[0]


def _align(alpha):
    return (
        {l: alpha for l in ("embedding", "hidden", "readout")},
        {l: 0.5 for l in ("embedding", "hidden", "readout")},
        {l: alpha for l in ("embedding", "hidden", "readout")},
    )


@pytest.mark.parametrize("alignment,alpha", [("full", 1.0), ("none", 0.5)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "adafactor", "lion", "muon", "muon_all"])
@pytest.mark.parametrize("parameterization", ["sp", "ntk", "mup", "mfp"])
def test_program_optimum_equals_brute_force_over_a_rational_grid(
    parameterization, optimizer, alignment, alpha
):
    e = mupsim.exponents(parameterization, optimizer, alignment)
    best, point = _brute_force(e, optimizer, _align(alpha))
    got = tuple(float(e.layers[l].lr) for l in ORDER)
    assert sum(got) == best
    assert got == point


def test_program_takes_per_layer_alignment_and_matches_brute_force():
    la = {"hidden": ("3/4", "1/2", "1"), "readout": ("1/2", "1/2", "1/2")}
    e = mupsim.exponents("mup", "adam", "full", layer_alignment=la)
    assert e.layers["hidden"].lr == Fraction(1)  # a + c − u ≥ 0 binds: u = 1 at any depth
    al = {"hidden": 0.75, "readout": 0.5}
    om = {"hidden": 0.5, "readout": 0.5}
    u = {"hidden": 1.0, "readout": 0.5}
    mesh = np.meshgrid(*([np.arange(-3.0, 2.01, 0.25)] * 3), indexing="ij")
    c = {
        "embedding": mesh[0].ravel(),
        "hidden": mesh[1].ravel(),
        "readout": mesh[2].ravel(),
        "bias": np.zeros(mesh[0].size),
        "norm_gain": np.zeros(mesh[0].size),
    }
    ok = _stable(e, "adam", c, (al, om, u))
    total = c["embedding"] + c["hidden"] + c["readout"]
    assert float(e.layers["embedding"].lr + e.layers["hidden"].lr + e.layers["readout"].lr) == total[ok].min()


def test_measured_hidden_alignment_between_none_and_full_gives_an_intermediate_rate():
    e = mupsim.exponents("mup", "adam", "full", layer_alignment={"hidden": ("3/4", "1/2", "3/4")})
    assert e.layers["hidden"].lr == Fraction(3, 4)


def test_sgd_without_alignment_differs_from_the_greedy_readout_first_solve_for_mup():
    lp = mupsim.exponents("mup", "sgd", "none")
    greedy = mupsim.exponents("mup", "sgd", "none", solver="greedy")
    assert [lp.layers[l].lr for l in ORDER[:3]] == [0, Fraction(-1, 2), 0]
    assert [greedy.layers[l].lr for l in ORDER[:3]] == [Fraction(1, 2), 0, Fraction(-1, 2)]
    assert sum(lp.layers[l].lr for l in ORDER) < sum(greedy.layers[l].lr for l in ORDER)


@pytest.mark.parametrize(
    "parameterization,optimizer",
    list(itertools.product(["sp", "ntk", "mup", "mfp"], ["adam", "adafactor", "lion"])),
)
@pytest.mark.parametrize("alignment", ["full", "none"])
def test_greedy_and_program_coincide_for_entrywise_normalised_optimizers(
    parameterization, optimizer, alignment
):
    lp = mupsim.exponents(parameterization, optimizer, alignment)
    greedy = mupsim.exponents(parameterization, optimizer, alignment, solver="greedy")
    assert {l: x.lr for l, x in lp.layers.items()} == {l: x.lr for l, x in greedy.layers.items()}


def test_explain_shows_the_program_active_constraints_and_certified_optimum():
    text = mupsim.exponents("mup", "sgd", "none").explain()
    assert "The program: minimise Σ c" in text and "active at the optimum" in text and "Σc" in text


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(solver="simplex"), "solver"),
        (dict(layer_alignment={"hidden": (1, 1, 1)}), "hidden ω"),
        (dict(layer_alignment={"middle": (1, 0.5, 1)}), "unknown layer"),
        (dict(layer_alignment={"hidden": (1, 0.5)}), "3 exponents"),
        (dict(layer_alignment={"hidden": (2, 0.5, 1)}), "alpha"),
        (dict(solver="greedy", layer_alignment={"hidden": (1, 0.5, 1)}), "per-layer"),
    ],
)
def test_bad_program_inputs_are_refused_with_what_is_allowed(kwargs, match):
    with pytest.raises(MupsimError, match=match):
        mupsim.exponents("mup", "adam", **kwargs)


def test_muon_hidden_rate_does_not_depend_on_alignment():
    # a full-rank orthogonal n×n update moves ‖ΔW z‖ by η‖z‖ whatever the alignment
    for p in ("sp", "ntk", "mup", "mfp"):
        assert (
            mupsim.exponents(p, "muon", "none").layers["hidden"].lr
            == mupsim.exponents(p, "muon", "full").layers["hidden"].lr
        )


def test_muon_on_every_matrix_gives_the_spectral_rule_sqrt_fan_out_over_fan_in():
    import published_tables as T

    e = mupsim.exponents("mup", "muon_all", multipliers=(0, 0, 0))
    assert {l: e.layers[l].lr for l in ("embedding", "hidden", "readout")} == {
        l: T.MUON["sqrt_fanout_over_fanin"][l] for l in ("embedding", "hidden", "readout")
    }


@pytest.mark.parametrize("rule", ["timescale", "fan2025"])
def test_rms_matched_muon_shifts_lr_by_half_max_dim_and_keeps_the_per_step_decay(rule):
    spectral = mupsim.exponents("mup", "muon_all", multipliers=(0, 0, 1), wd_rule=rule)
    rms = mupsim.exponents("mup", "muon_all", multipliers=(0, 0, 1), wd_rule=rule, muon_convention="rms")
    for layer in ("embedding", "hidden", "readout"):
        s, r = spectral.layers[layer], rms.layers[layer]
        assert r.lr == s.lr + Fraction(1, 2)
        if s.wd is not None:
            assert r.lr + r.wd == s.lr + s.wd
    assert rms.layers["bias"].lr == spectral.layers["bias"].lr  # Adam-trained vectors unchanged


def test_rms_matched_convention_is_refused_for_non_muon_optimizers():
    with pytest.raises(MupsimError, match="Muon only"):
        mupsim.exponents("mup", "adamw", muon_convention="rms")


def test_json_records_the_solver_and_per_layer_alignment():
    d = mupsim.exponents("mup", "adam", layer_alignment={"hidden": ("3/4", "1/2", "3/4")}).to_dict()
    assert d["solver"] == "program"
    assert d["layer_alignment"] == {"hidden": {"alpha": 0.75, "omega": 0.5, "u": 0.75}}
    assert d["muon_convention"] == "spectral"
