"""The bridge on Hugging Face transformers models built from small configs (nothing downloaded):
GPT-2 (Conv1D stored (in, out)), Llama (RMSNorm, grouped KV heads, untied head) and BERT
(tied masked-LM decoder); classified with no overrides and checked against mup's MuAdamW."""

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip(
    "transformers", reason="the Hugging Face layouts need transformers (extra 'hf')"
)

from test_torch_groups import mup_muadamw_oracle  # noqa: E402  (mup's MuAdamW rule)

import mupsim  # noqa: E402
from mupsim.torch import (  # noqa: E402
    apply_multipliers,
    classify,
    param_groups,
    rescale_init_,
    save_settings,
    set_attention_scale,
)

VOCAB = 31
LR, WD = 1e-2, 0.05
# d_head grows 16 → 32 in these models: the attention-scale advice is tested on its own below
pytestmark = pytest.mark.filterwarnings("ignore:.*attention logit scale")


def gpt2(n, inner=None, heads=2, **config):
    cfg = transformers.GPT2Config(
        n_embd=n,
        n_layer=2,
        n_head=heads,
        n_positions=16,
        vocab_size=VOCAB,
        n_inner=inner,
        bos_token_id=0,
        eos_token_id=0,
        **config,
    )
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(cfg).eval()


def llama(n):
    cfg = transformers.LlamaConfig(
        hidden_size=n,
        intermediate_size=2 * n,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=VOCAB,
        max_position_embeddings=16,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


def bert(n):
    cfg = transformers.BertConfig(
        hidden_size=n,
        intermediate_size=2 * n,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=VOCAB,
        max_position_embeddings=16,
    )
    torch.manual_seed(0)
    return transformers.BertForMaskedLM(cfg).eval()


MODELS = {"gpt2": gpt2, "llama": llama, "bert": bert}


def true_fan_in(module, attr):
    """The fan-in each module type documents: nn.Linear in_features, Conv1D nx, embeddings their rows."""
    if type(module).__name__ == "Conv1D":
        return module.nx
    if isinstance(module, torch.nn.Linear):
        return module.in_features
    if isinstance(module, torch.nn.Embedding):
        return module.num_embeddings
    return None


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS)
def test_every_matrix_gets_its_modules_fan_in_with_no_overrides(make):
    model = make(64)
    plan = classify(model, make(32))
    matrices = [p for p in plan.params.values() if len(p.shape) == 2]
    assert matrices
    for p in matrices:
        assert p.fan_in == true_fan_in(model.get_submodule(p.module), p.name.rpartition(".")[2]), p.name


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS)
def test_norm_gains_of_every_library_are_norm_gain(make):
    plan = classify(make(64), make(32))
    norms = {n: p.layer for n, p in plan.params.items() if "Norm" in p.module_type and n.endswith(".weight")}
    assert norms and set(norms.values()) == {"norm_gain"}


def test_llama_rmsnorm_is_norm_gain_in_the_settings_file(tmp_path):
    model, base = llama(64), llama(32)
    save_settings(tmp_path / "s.json", model, param_groups(model, base, lr=LR), width=64)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["params"]["model.norm.weight"]["layer"] == "norm_gain"
    assert doc["params"]["model.layers.0.input_layernorm.weight"]["layer"] == "norm_gain"


def test_gpt2_conv1d_width_multiplier_is_its_fan_in_ratio_when_fan_in_and_fan_out_grow_differently():
    # the MLP's inner width grows 4× while d_model grows 2×: c_fc's fan-in is d_model, c_proj's the inner width
    model, base = gpt2(64, inner=256), gpt2(32, inner=64)
    apply_multipliers(model, base)  # the tied head's readout multiplier
    plan = classify(model, base)
    c_fc, c_proj = (
        plan.params["transformer.h.0.mlp.c_fc.weight"],
        plan.params["transformer.h.0.mlp.c_proj.weight"],
    )
    assert (c_fc.layer, c_fc.fan_in, c_fc.width_mult) == ("hidden", 64, 2)
    assert (c_proj.layer, c_proj.fan_in, c_proj.width_mult) == ("hidden", 256, 4)
    lrs = {n: g["lr"] for g in param_groups(model, base, lr=LR) for n in g["mupsim_names"]}
    hidden_lr = lambda m: mupsim.transfer(1, m, LR, multipliers=(0, 0, 0)).layers["hidden"].lr  # noqa: E731
    assert lrs["transformer.h.0.mlp.c_fc.weight"] == pytest.approx(hidden_lr(2))
    assert lrs["transformer.h.0.mlp.c_proj.weight"] == pytest.approx(hidden_lr(4))


def test_gpt2_init_rescale_follows_conv1d_fan_in():
    # μP's hidden init std ∝ fan_in^(-1/2) (what mup gets from a 1/√fan_in init)
    model, base = gpt2(64, inner=256), gpt2(32, inner=64)
    out = rescale_init_(model, base)
    b = dict(base.named_parameters())
    for name, fan_ratio in (("transformer.h.0.mlp.c_fc.weight", 2), ("transformer.h.0.mlp.c_proj.weight", 4)):
        _, after = out[name]
        rms_base = float(b[name].detach().pow(2).mean().sqrt())
        assert after / rms_base == pytest.approx(fan_ratio**-0.5, rel=1e-5), name  # float32 RMS


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS)
def test_learning_rates_and_decay_agree_with_mup_muadamw(make):
    # every dimension grows by the same ratio, so mup's "last infinite dimension" is the fan-in
    # ratio even for Conv1D; vector-like parameters are not decayed by mupsim (documented)
    model, base = make(64), make(32)
    apply_multipliers(model, base, multipliers=(0, 0, 1))
    groups = param_groups(model, base, lr=LR, wd=WD, wd_rule="timescale", multipliers=(0, 0, 1))
    ours = {n: (g["lr"], g["weight_decay"]) for g in groups for n in g["mupsim_names"]}
    ref = mup_muadamw_oracle(model, base, LR, WD)
    vectors = {n for n, p in model.named_parameters() if p.ndim == 1}
    for n, (lr, wd) in ours.items():
        assert lr == pytest.approx(ref[n][0]), n
        assert wd == (0.0 if n in vectors else pytest.approx(ref[n][1])), n


@pytest.mark.parametrize(
    "make,attn",
    [
        (gpt2, "transformer.h.0.attn"),
        (llama, "model.layers.0.self_attn"),
        (bert, "bert.encoder.layer.0.attention.self"),
    ],
    ids=MODELS,
)
def test_attention_scale_is_warned_with_its_value_and_set_to_mup(make, attn):
    model, base = make(64), make(32)  # two heads: d_head 16 → 32
    plan = classify(model, base)
    line = next(w for w in plan.warnings if w.startswith(attn + " "))
    assert f"{32**-0.5:.6g}" in line and "16 → 32" in line
    ids = torch.arange(8).view(1, 8) % VOCAB
    with torch.no_grad():
        before = model(ids).logits
    scales = set_attention_scale(model, base)
    assert scales[attn] == pytest.approx(mupsim.torch.attention_logit_scale(32, 16))
    assert model.get_submodule(attn).scaling == pytest.approx(0.125)
    assert not classify(model, base).warnings
    with torch.no_grad():
        after = model(ids).logits
    assert not torch.allclose(before, after)  # the forward reads the attribute it set


def test_growing_heads_at_fixed_head_dim_needs_no_scale_change():
    model = gpt2(64, heads=4)
    assert not classify(model, gpt2(32)).warnings  # d_head 16 at both widths
    assert set_attention_scale(model, gpt2(32)) == {}


def test_attention_scale_keeps_the_base_models_extra_factors():
    # GPT-2's scale_attn_by_inverse_layer_idx divides layer i's scale by i + 1 at every width
    model, base = (
        gpt2(64, scale_attn_by_inverse_layer_idx=True),
        gpt2(32, scale_attn_by_inverse_layer_idx=True),
    )
    scales = set_attention_scale(model, base)
    assert scales["transformer.h.1.attn"] == pytest.approx(mupsim.torch.attention_logit_scale(32, 16) / 2)
    assert set_attention_scale(model, base) == scales  # idempotent
