"""Oracles: published tables (tests/published_tables.py) against the derived exponents.

The tables are transcriptions with provenance (see that file's docstrings); entries that
could not be read from a source are None and are skipped, never guessed.
"""

import published_tables as T
import pytest

import mupsim

MATRICES = ("embedding", "hidden", "readout")


@pytest.mark.parametrize(
    "table,multipliers",
    [(T.TP5_TABLE3, (0, 0, 0)), (T.TP5_TABLE8, (0, 0, 1))],
    ids=["TP5-Table3", "TP5-Table8"],
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tp5_tables_match_mup_in_their_gauge(table, multipliers, optimizer):
    e = mupsim.exponents("mup", optimizer, multipliers=multipliers)
    for layer, row in table.items():
        got = e.layers[layer]
        assert got.multiplier == row["a"], (layer, "a")
        assert got.init_std == row["b"], (layer, "b")
        assert got.lr == row["c"][optimizer], (layer, "c")


def _everett_cases():
    for p, entry in T.EVERETT_TABLE1.items():
        if entry["c"] is None:
            continue
        for alignment, by_opt in entry["c"].items():
            for opt, cs in by_opt.items():
                if cs is not None:
                    yield pytest.param(p, alignment, opt, cs, id=f"{p}-{opt}-{alignment}")


@pytest.mark.parametrize("parameterization,alignment,optimizer,expected", list(_everett_cases()))
def test_everett_table1_learning_rate_exponents(parameterization, alignment, optimizer, expected):
    e = mupsim.exponents(parameterization, optimizer, alignment)
    assert {l: e.layers[l].lr for l in MATRICES} == expected


@pytest.mark.parametrize("parameterization", ["mup", "mfp"])
def test_greedy_solver_misses_everett_sgd_no_alignment_where_the_program_matches(parameterization):
    """The readout-first greedy solve is stable but not the program's optimum
    for SGD without alignment under muP/MFP; the linear program reproduces the published cells."""
    expected = T.EVERETT_TABLE1[parameterization]["c"]["none"]["sgd"]
    greedy = mupsim.exponents(parameterization, "sgd", "none", solver="greedy")
    assert {l: greedy.layers[l].lr for l in MATRICES} != expected


@pytest.mark.parametrize("parameterization", [p for p, v in T.EVERETT_TABLE1.items() if v["a"] is not None])
def test_everett_table1_multipliers_and_init(parameterization):
    entry = T.EVERETT_TABLE1[parameterization]
    e = mupsim.exponents(parameterization, "adam")
    assert {l: e.layers[l].multiplier for l in MATRICES} == entry["a"]
    assert {l: e.layers[l].init_std for l in MATRICES} == entry["b"]


@pytest.mark.parametrize("parameterization", ["sp", "ntk", "mup", "mfp"])
def test_readout_init_condition_matches_everett(parameterization):
    r = mupsim.exponents(parameterization, "adam").layers["readout"]
    assert r.multiplier + r.init_std == T.EVERETT_READOUT_A_PLUS_B[parameterization]


def test_mup_package_muadamw_weight_decay_is_the_timescale_rule():
    e = mupsim.exponents("mup", "adamw", multipliers=(0, 0, 1), wd_rule="timescale")
    for layer in MATRICES:
        assert e.layers[layer].wd == T.MUP_PACKAGE[layer]["w"]["adam"], layer


def test_spectral_condition_init_matches_the_published_init_formula():
    e = mupsim.exponents("mup", "adam", multipliers=(0, 0, 0))
    assert {l: e.layers[l].init_std for l in MATRICES} == T.SPECTRAL["b"]


@pytest.mark.parametrize("rule", ["depth_mup", "completep"])
def test_depth_rules_match_published_branch_multiplier_and_adam_lr(rule):
    d = mupsim.exponents("mup", "adamw", depth_rule=rule).depth
    assert d["branch_multiplier"] == T.DEPTH[rule]["branch_multiplier"]
    assert d["hidden_lr"] == T.DEPTH[rule]["hidden_lr"]["adam"]


def test_depth_mup_keeps_sgd_lr_constant_in_depth():
    assert (
        mupsim.exponents("mup", "sgd", depth_rule="depth_mup").depth["hidden_lr"]
        == T.DEPTH["depth_mup"]["hidden_lr"]["sgd"]
    )


def test_completep_norm_and_bias_lr_follow_the_hidden_rate():
    d = mupsim.exponents("mup", "adamw", depth_rule="completep").depth
    assert d["vector_lr"] == T.DEPTH["completep"]["norm_and_bias_lr"]["adam"]


def test_fan2025_hidden_row():
    e = mupsim.exponents("mup", "adamw", multipliers=(0, 0, 1), wd_rule="fan2025")
    assert e.layers["hidden"].lr == T.FAN2025_TABLE2["hidden"]["c"]
    assert e.layers["hidden"].wd == T.FAN2025_TABLE2["hidden"]["w"]
    for layer in ("norm_gain", "bias"):
        assert e.layers[layer].lr == T.FAN2025_TABLE2[layer]["c"] and e.layers[layer].wd is None


def test_muon_hidden_rate_matches_sqrt_fan_out_over_fan_in():
    e = mupsim.exponents("mup", "muon", multipliers=(0, 0, 0))
    assert e.layers["hidden"].lr == T.MUON["sqrt_fanout_over_fanin"]["hidden"]


def test_completep_adam_eps_matches_the_authors_code_in_width_and_depth():
    # nanoGPT-mup (completep): emb_unemb_adam_eps = eps/m_width; hidden_adam_eps = eps/m_width * m_depth^-alpha
    e = mupsim.exponents("mup", "adamw", multipliers=(0, 0, 1), depth_rule="completep")
    for layer in MATRICES:
        assert e.layers[layer].eps == 1, layer
    assert e.depth["block_eps"] == T.DEPTH["completep"]["adam_eps"]["hidden"]


def test_completep_hidden_weight_decay_has_no_depth_factor_as_in_the_authors_code():
    e = mupsim.exponents("mup", "adamw", multipliers=(0, 0, 1), depth_rule="completep", wd_rule="timescale")
    assert e.depth["hidden_wd"] == T.DEPTH["completep"]["hidden_wd"]["adamw"]
    assert (
        e.layers["hidden"].wd == T.MUP_PACKAGE["hidden"]["w"]["adam"]
    )  # weight_decay = wd / width_lr_scaling
