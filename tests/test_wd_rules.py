"""Weight-decay rules as a registry: one record per rule, the theory dispatching on its kind, and
a per-layer rule in the calculator."""

import dataclasses
from fractions import Fraction

import pytest

import mupsim
from mupsim.calculator import LayerRuleError, exponents, transfer
from mupsim.cli import main
from mupsim.errors import MupsimError
from mupsim.sim import config as sim_config
from mupsim.sim.config import SimConfig
from mupsim.theory import optimizers, steady_state, wd_rules
from mupsim.theory.layers import LAYERS, MATRIX_LAYERS

FAN_IO = {"hidden": "fan2025", "embedding": "constant", "readout": "constant"}


# ----------------------------------------------------------------------- the registry
def test_every_rule_name_lists_come_from_the_registry():
    names = tuple(wd_rules.WD_RULES)
    assert mupsim.WD_RULES == names == steady_state.WD_RULES
    assert sim_config.WD_RULES == wd_rules.SIM_WD_RULES
    assert wd_rules.SIM_WD_RULES == tuple(n for n in names if wd_rules.WD_RULES[n].simulated)


def test_every_rule_has_a_description_label_colour_and_known_kind():
    colours = [r.color for r in wd_rules.WD_RULES.values()]
    assert len(set(colours)) == len(colours)
    for name, r in wd_rules.WD_RULES.items():
        assert r.name == name and r.description and r.label and r.color.startswith("#")
        assert r.kind in wd_rules.KINDS and "\n" not in r.description


def test_rules_needing_an_alignment_exponent_say_so_in_needs():
    for r in wd_rules.WD_RULES.values():
        assert r.takes_alignment_exponent == (r.kind == "steady_state" and r.alpha is None)
        if r.takes_alignment_exponent:
            assert "alignment exponent" in r.needs


def test_plot_label_appends_the_alignment_exponent_only_where_the_caller_gives_it():
    assert wd_rules.get("alignment").plot_label(0.85) == "alignment(α̂=0.85)"
    assert wd_rules.get("fan2025").plot_label(0.85) == "fan2025"
    assert wd_rules.get("constant").plot_label() == "constant"


def test_get_is_case_and_dash_insensitive_and_names_the_rules_when_unknown():
    assert wd_rules.get("Tau-Epoch").name == "tau_epoch"
    with pytest.raises(MupsimError, match="unknown wd rule 'bogus'; allowed: constant, fan2025"):
        wd_rules.get("bogus")


def test_figure_colours_are_the_registrys():
    from mupsim.experiments.style import RULE_COLORS

    for name, r in wd_rules.WD_RULES.items():
        assert RULE_COLORS[name] == r.color


def test_cli_help_describes_every_rule(capsys):
    with pytest.raises(SystemExit):
        main(["transfer", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for r in wd_rules.WD_RULES.values():
        assert f"{r.name}: {' '.join(r.description.split())}" in out


# ----------------------------------------------------------------------- the theory dispatches on kind
@pytest.mark.parametrize(
    "kind, like", [("constant", "constant"), ("timescale", "timescale"), ("epoch", "tau_epoch")]
)
def test_a_rule_s_exponents_follow_its_kind_not_its_name(kind, like):
    e = exponents("mup", "adamw")
    a = {l: e.layers[l].multiplier for l in LAYERS}
    c = {l: e.layers[l].lr for l in LAYERS}
    renamed = dataclasses.replace(wd_rules.get(like), name="renamed")
    got = steady_state.derive_weight_decay(optimizers.get("adamw"), a, c, renamed).results
    want = steady_state.derive_weight_decay(optimizers.get("adamw"), a, c, like).results
    assert got == want


def test_a_steady_state_rule_decays_only_its_decayed_layers_at_its_alpha():
    e = exponents("mup", "adamw")
    a = {l: e.layers[l].multiplier for l in LAYERS}
    c = {l: e.layers[l].lr for l in LAYERS}
    hidden_only = dataclasses.replace(
        wd_rules.get("alignment"), name="h", alpha=Fraction(3, 4), decayed=("hidden",)
    )
    got = steady_state.derive_weight_decay(optimizers.get("adamw"), a, c, hidden_only).results
    fan = steady_state.derive_weight_decay(optimizers.get("adamw"), a, c, "fan2025").results
    assert got == fan and got["w_embedding"] is None and got["w_hidden"] is not None


def test_depth_rule_dispatches_on_the_wd_rule_kind():
    from mupsim.theory.depth import derive_depth

    opt = optimizers.get("adamw")
    for like in ("constant", "timescale", "fan2025"):
        renamed = dataclasses.replace(wd_rules.get(like), name="renamed")
        assert (
            derive_depth(opt, "completep", None, renamed).results["wd"]
            == derive_depth(opt, "completep", None, like).results["wd"]
        )


def test_signsgd_is_the_theory_s_lion():
    assert optimizers.resolve("signsgd") is optimizers.get("lion")
    assert optimizers.resolve("adamw") is optimizers.get("adamw")
    sign = SimConfig(optimizer="signsgd", wd=0.1, wd_rule="timescale").settings
    lion = SimConfig(optimizer="lion", wd=0.1, wd_rule="timescale").settings
    assert sign.to_dict() == lion.to_dict() and sign.exponents.optimizer == "lion"


# ----------------------------------------------------------------------- the simulator's rules
def test_config_refuses_a_rule_the_simulator_cannot_run_with_its_reason():
    reason = wd_rules.get("tau_epoch").sim_unsupported
    with pytest.raises(MupsimError, match=f"wd_rule='tau_epoch' {reason}"):
        SimConfig(wd=0.1, wd_rule="tau-epoch")


def test_config_accepts_every_simulated_rule():
    for name in wd_rules.SIM_WD_RULES:
        kw = {"alignment_exponent": 0.8} if wd_rules.get(name).takes_alignment_exponent else {}
        assert SimConfig(wd=0.1, wd_rule=name.upper(), **kw).wd_rule == name


# ----------------------------------------------------------------------- per-layer rules
def test_per_layer_rule_takes_each_layer_s_wd_from_its_own_rule():
    got = transfer(64, 512, 1e-3, 0.1, wd_rule=FAN_IO).layers
    fan = transfer(64, 512, 1e-3, 0.1, wd_rule="fan2025").layers
    const = transfer(64, 512, 1e-3, 0.1, wd_rule="constant").layers
    for l in ("embedding", "readout"):
        assert got[l] == dataclasses.replace(fan[l], wd=const[l].wd) and const[l].wd > 0.0
    for l in ("hidden", "bias", "norm_gain"):
        assert got[l] == fan[l]


def test_per_layer_rule_reports_hidden_s_rule_and_the_overrides():
    e = exponents(wd_rule=FAN_IO)
    assert e.wd_rule == "fan2025" and e.alignment_exponent == Fraction(3, 4)
    assert e.layer_wd_rules == {"embedding": "constant", "readout": "constant"}
    assert e.to_dict()["layer_wd_rules"] == {"embedding": "constant", "readout": "constant"}
    assert "layer_wd_rules" not in exponents(wd_rule="fan2025").to_dict()
    assert "layer_wd_rules" not in transfer(64, 128, 1e-3, 0.1, wd_rule=FAN_IO).to_dict()


def test_per_layer_rule_equal_to_hidden_s_everywhere_is_the_plain_rule():
    assert exponents(wd_rule={"hidden": "timescale", "readout": "Timescale"}) == exponents(
        wd_rule="timescale"
    )
    assert exponents(wd_rule={"hidden": "timescale"}).layer_wd_rules is None


@pytest.mark.parametrize(
    "rule, words",
    [
        ({"embedding": "constant"}, "needs a rule for 'hidden'"),
        ({"hidden": "constant", "bias": "constant"}, r"unknown layer\(s\) \['bias'\]"),
        ({"hidden": "constant", "readout": "bogus"}, "unknown wd rule 'bogus'"),
    ],
)
def test_per_layer_rule_is_refused_when_malformed(rule, words):
    with pytest.raises(MupsimError, match=words):
        exponents(wd_rule=rule)


def test_an_override_refused_names_its_layers():
    with pytest.raises(LayerRuleError, match="embedding and readout") as info:
        exponents(wd_rule={"hidden": "constant", "embedding": "alignment", "readout": "alignment"})
    assert info.value.layers == ("embedding", "readout") and info.value.rule == "alignment"
    with pytest.raises(LayerRuleError, match="readout .*'fan2025'.*optimizer 'sgd'"):
        exponents(optimizer="sgd", wd_rule={"hidden": "constant", "readout": "fan2025"})


def test_alignment_exponent_goes_to_the_layers_whose_rule_takes_it():
    got = transfer(
        64, 512, 1e-3, 0.1, wd_rule={"hidden": "fan2025", "readout": "alignment"}, alignment_exponent=0.9
    ).layers
    al = transfer(64, 512, 1e-3, 0.1, wd_rule="alignment", alignment_exponent=0.9).layers
    fan = transfer(64, 512, 1e-3, 0.1, wd_rule="fan2025").layers
    assert got["readout"].wd == al["readout"].wd and got["hidden"].wd == fan["hidden"].wd
    with pytest.raises(MupsimError, match="only used by wd rule 'alignment'"):
        exponents(wd_rule={"hidden": "fan2025", "readout": "constant"}, alignment_exponent=0.9)


def test_tau_epoch_batch_factor_applies_to_its_layers_only():
    kw = dict(batch_size=256, base_batch_size=64, tokens=10**7, base_tokens=10**6)
    got = transfer(64, 512, 1e-3, 0.1, wd_rule={"hidden": "timescale", "embedding": "tau_epoch"}, **kw)
    ts = transfer(64, 512, 1e-3, 0.1, wd_rule="timescale")
    te = transfer(64, 512, 1e-3, 0.1, wd_rule="tau_epoch", **kw)
    assert got.batch["wd_factor"] == te.batch["wd_factor"] != 1.0
    assert got.layers["embedding"].wd == te.layers["embedding"].wd
    assert got.layers["hidden"].wd == ts.layers["hidden"].wd


def test_muon_rms_convention_keeps_a_constant_override_s_lambda():
    rules = {"hidden": "timescale", "embedding": "constant", "readout": "constant"}
    got = exponents(optimizer="muon_all", wd_rule=rules, muon_convention="rms").layers
    const = exponents(optimizer="muon_all", wd_rule="constant", muon_convention="rms").layers
    ts = exponents(optimizer="muon_all", wd_rule="timescale", muon_convention="rms").layers
    for l in MATRIX_LAYERS:
        assert got[l].wd == (ts if l == "hidden" else const)[l].wd
    assert got["embedding"].wd == 0 and ts["embedding"].wd != 0


def test_global_lr_refuses_a_derived_override_naming_its_layers():
    with pytest.raises(LayerRuleError, match="readout.*global_lr"):
        transfer(64, 128, 1e-3, 0.1, wd_rule={"hidden": "constant", "readout": "timescale"}, global_lr=True)
