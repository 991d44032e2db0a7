"""Shape inference and classification of every parameter (mupsim.torch.shapes)."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_models import CNN, GPT, MLP, Odd  # noqa: E402

from mupsim.errors import MupsimError  # noqa: E402
from mupsim.torch import attention_logit_scale, classify  # noqa: E402


def layers(plan):
    return {n: p.layer for n, p in plan.params.items()}


def test_import_mupsim_does_not_import_torch():
    code = (
        "import sys, mupsim, mupsim.cli, mupsim.torch.checkpoints, mupsim.torch.diagnose; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_bridge_never_imports_transformers():
    code = (
        "import sys, torch, mupsim.torch.shapes, mupsim.torch.groups, mupsim.torch.attention; "
        "sys.exit(1 if 'transformers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


class Gain(nn.Module):
    """A norm-like module of another library: a 1-D weight, a class name that does not say Norm."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))


class Named(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, n)
        self.ln_f = Gain(n)
        self.q_norm = Gain(n)
        self.ln1 = Gain(n)
        self.gate = Gain(n)


def test_one_d_weights_of_modules_named_like_norms_are_norm_gains():
    got = layers(classify(Named(64), Named(32)))
    assert got["ln_f.weight"] == got["q_norm.weight"] == got["ln1.weight"] == "norm_gain"
    assert got["gate.weight"] == "bias"


def test_every_mlp_parameter_is_classified():
    assert layers(classify(MLP(64), MLP(32))) == {
        "inp.weight": "embedding",
        "inp.bias": "bias",
        "hid.weight": "hidden",
        "hid.bias": "bias",
        "norm.weight": "norm_gain",
        "norm.bias": "bias",
        "out.weight": "readout",
        "out.bias": "fixed",
    }


def test_transformer_tied_embedding_fused_qkv_and_gated_mlp():
    plan = classify(GPT(64), GPT(32))
    got = layers(plan)
    assert got["emb.weight"] == "embedding" and plan.params["emb.weight"].aliases == ("head.weight",)
    assert plan.params["emb.weight"].readout_uses == ("head",)
    assert "head.weight" not in got  # one tensor, classified once
    assert got["pos.weight"] == "embedding"
    for i in range(2):
        for m in ("qkv", "proj", "gate_up", "down"):
            assert got[f"blocks.{i}.{m}.weight"] == "hidden"
        assert got[f"blocks.{i}.ln1.weight"] == got[f"blocks.{i}.ln2.weight"] == "norm_gain"
        assert got[f"blocks.{i}.ln1.bias"] == "bias"
    assert got["ln_f.weight"] == "norm_gain"
    assert got["ln_f.bias"] == "bias"
    assert set(got) == {n for n, _ in GPT(64).named_parameters()}


def test_fused_qkv_width_multiplier_is_its_fan_in_ratio():
    p = classify(GPT(96), GPT(32)).params["blocks.0.qkv.weight"]
    assert (p.base_width, p.width, p.fan_in) == (32, 96, 96) and p.width_mult == 3


def test_untied_transformer_has_a_readout():
    plan = classify(GPT(64, tied=False), GPT(32, tied=False))
    assert plan.params["head.weight"].layer == "readout"
    assert plan.params["emb.weight"].aliases == ()


def test_cnn_fan_in_is_in_channels_times_kernel_area():
    plan = classify(CNN(64), CNN(32))
    assert layers(plan) == {
        "c1.weight": "embedding",
        "c1.bias": "bias",
        "bn.weight": "norm_gain",
        "bn.bias": "bias",
        "c2.weight": "hidden",
        "c2.bias": "bias",
        "fc.weight": "readout",
        "fc.bias": "fixed",
    }
    assert plan.params["c1.weight"].fan_in == 3 * 3 * 3
    assert plan.params["c2.weight"].fan_in == 64 * 3 * 3


def test_zero_initialised_readout_is_still_a_readout():
    assert (
        classify(MLP(64, zero_readout=True), MLP(32, zero_readout=True)).params["out.weight"].layer
        == "readout"
    )


def test_base_model_on_meta_device_is_enough():
    with torch.device("meta"):
        base = MLP(32)
    assert layers(classify(MLP(64), base)) == layers(classify(MLP(64), MLP(32)))


def test_parameter_that_does_not_scale_is_fixed():
    class M(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.lin = nn.Linear(n, n)
            self.table = nn.Linear(4, 4)

    plan = classify(M(64), M(32))
    assert plan.params["table.weight"].layer == "fixed" and plan.params["table.bias"].layer == "fixed"


def test_ambiguous_parameter_error_names_it_and_how_to_override():
    with pytest.raises(
        MupsimError, match=r"ambiguous(.|\n)*'w'.*overrides=\{'w': 'embedding' \| 'readout' \| 'bias'\}"
    ):
        classify(Odd(64), Odd(32))


def test_override_by_name_pattern_settles_ambiguity():
    plan = classify(Odd(64), Odd(32), overrides={"w": "readout"})
    assert plan.params["w"].layer == "readout" and plan.params["w"].source == "override"
    plan = classify(MLP(64), MLP(32), overrides={"hid.*": "fixed"})
    assert plan.params["hid.weight"].layer == plan.params["hid.bias"].layer == "fixed"


def test_override_errors_name_the_problem():
    with pytest.raises(MupsimError, match="not a layer kind"):
        classify(MLP(64), MLP(32), overrides={"hid.weight": "matrix"})
    with pytest.raises(MupsimError, match="matches no parameter"):
        classify(MLP(64), MLP(32), overrides={"hidden.weight": "hidden"})


def test_models_with_different_parameters_are_refused():
    with pytest.raises(MupsimError, match="differ in parameter names"):
        classify(MLP(64), CNN(32))


def test_identical_widths_are_refused():
    with pytest.raises(MupsimError, match="no dimension differs"):
        classify(MLP(32), MLP(32))


def test_non_module_is_refused():
    with pytest.raises(MupsimError, match="torch.nn.Module"):
        classify({"w": torch.zeros(2)}, MLP(32))


def test_multihead_attention_growing_head_dim_warns():
    plan = classify(nn.MultiheadAttention(64, 2), nn.MultiheadAttention(32, 2))
    assert plan.params["in_proj_weight"].layer == "hidden"
    assert any("1/head_dim" in w for w in plan.warnings)
    assert not classify(nn.MultiheadAttention(64, 4), nn.MultiheadAttention(32, 2)).warnings


def test_attention_logit_scale_is_standard_at_base_and_inverse_head_dim_beyond():
    assert attention_logit_scale(16, 16) == pytest.approx(16**-0.5)
    assert attention_logit_scale(64, 16) == pytest.approx(attention_logit_scale(16, 16) / 4)
    with pytest.raises(MupsimError, match="d_head"):
        attention_logit_scale(0, 16)


def test_plan_is_json_serialisable():
    import json

    d = json.loads(classify(GPT(64), GPT(32)).to_json())
    assert d["params"]["emb.weight"]["aliases"] == ["head.weight"]


def test_overridden_vector_keeps_its_width_multiplier():
    p = classify(MLP(64), MLP(32), overrides={"norm.weight": "bias"}).params["norm.weight"]
    assert p.layer == "bias" and p.width_mult == 2


def test_conv_whose_kernel_grows_too_is_ambiguous_until_given_a_kind():
    class K(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.c = nn.Conv1d(n, n, n // 16)

    with pytest.raises(MupsimError, match=r"'c.weight'.*several growing"):
        classify(K(64), K(32))
    p = classify(K(64), K(32), overrides={"c.weight": "hidden"}).params["c.weight"]
    assert (p.layer, p.width_mult, p.fan_in) == ("hidden", 2, 64 * 4)
