"""Optimizer parameter groups, init rescaling and multipliers (mupsim.torch.groups)."""

import inspect
import io
import math
import os
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_models import CNN, GPT, MLP  # noqa: E402

import mupsim  # noqa: E402
from mupsim.errors import MupsimError  # noqa: E402
from mupsim.torch import (  # noqa: E402
    apply_multipliers,
    make_optimizers,
    param_groups,
    rescale_init_,
    save_settings,
)


def per_param(groups, model):
    """{name: (lr, wd, optimizer)} from a list of groups."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"], g["optimizer"]) for g in groups for p in g["params"]}


@pytest.mark.filterwarnings("ignore:this gauge needs forward multipliers")
def test_every_parameter_is_in_exactly_one_group():
    m = GPT(64)
    groups = param_groups(m, GPT(32), lr=1e-3)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(m.parameters()))


@pytest.mark.parametrize("rule", ["constant", "fan2025", "timescale"])
def test_group_lr_and_wd_equal_mupsim_transfer_for_each_class(rule):
    lr, wd = 3e-3, 0.1
    groups = param_groups(MLP(256), MLP(64), lr=lr, wd=wd, wd_rule=rule)
    s = mupsim.transfer(64, 256, lr, wd, wd_rule=rule, multipliers=(0, 0, 0))
    by_layer = {g["layer"]: g for g in groups}
    for layer in ("embedding", "hidden", "readout", "bias", "norm_gain"):
        assert by_layer[layer]["lr"] == pytest.approx(s.layers[layer].lr)
        assert by_layer[layer]["weight_decay"] == pytest.approx(s.layers[layer].wd)
    assert (
        by_layer["fixed"]["lr"] == lr and by_layer["fixed"]["weight_decay"] == 0.0
    )  # out.bias: a fixed vector


def test_per_class_lr_dict():
    lrs = {"embedding": 1e-2, "hidden": 2e-3, "readout": 1e-3, "bias": 5e-3, "norm_gain": 4e-3, "fixed": 7e-3}
    groups = param_groups(MLP(128), MLP(64), lr=lrs)
    by_layer = {g["layer"]: g["lr"] for g in groups}
    assert (
        by_layer["hidden"] == pytest.approx(2e-3 / 2)
        and by_layer["bias"] == 5e-3
        and by_layer["fixed"] == 7e-3
    )


def mup_muadamw_oracle(model, base, lr, wd):
    """What microsoft/mup's MuAdamW does (mup/optim.py, MuAdam with impl=AdamW, and
    mup/infshape.py at commit 0518b39): a dimension is "infinite" when it differs from the base
    shape; a parameter with two infinite dimensions (ninf() == 2) gets lr / width_mult and
    weight_decay · width_mult, where width_mult is that of its last infinite dimension (fan-in of
    an nn.Linear weight); every other parameter (ninf() < 2) keeps lr and weight_decay.
    MuReadout multiplies its input by 1 / width_mult (mup/layer.py)."""
    out = {}
    bshapes = dict(base.named_parameters())
    for n, p in model.named_parameters():
        dims = [(b, s) for b, s in zip(bshapes[n].shape, p.shape) if b != s]
        if len(dims) == 2:
            m = dims[-1][1] / dims[-1][0]
            out[n] = (lr / m, wd * m)
        else:
            out[n] = (lr, wd)
    return out


@pytest.mark.filterwarnings("ignore:this gauge needs forward multipliers")
@pytest.mark.parametrize("make", [MLP, GPT], ids=["mlp", "tied-gpt"])
def test_groups_reproduce_mup_muadamw_for_its_rule(make):
    model, base = make(256), make(64)
    lr, wd = 1e-2, 0.05
    ours = per_param(
        param_groups(model, base, lr=lr, wd=wd, wd_rule="timescale", multipliers=(0, 0, 1)), model
    )
    ref = mup_muadamw_oracle(model, base, lr, wd)
    vectors = {n for n, p in model.named_parameters() if p.ndim == 1}
    for n, (lr_ref, wd_ref) in ref.items():
        assert ours[n][0] == pytest.approx(lr_ref), n
        if n in vectors:  # the one documented difference: mupsim decays no vector-like parameter
            assert ours[n][1] == 0.0 and wd_ref == wd
        else:
            assert ours[n][1] == pytest.approx(wd_ref), n


def test_mup_gauge_readout_multiplier_is_mup_readouts_one_over_width_mult():
    model = MLP(256)
    assert apply_multipliers(model, MLP(64), multipliers=(0, 0, 1)) == {"out": pytest.approx(64 / 256)}
    x = torch.randn(4, 8)
    h = model.norm(torch.relu(model.hid(torch.relu(model.inp(x)))))
    expected = nn.functional.linear(h * 0.25, model.out.weight, model.out.bias)
    assert torch.allclose(model(x), expected)


def test_default_gauge_needs_no_multiplier():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        param_groups(MLP(128), MLP(64), lr=1e-3)
    assert apply_multipliers(MLP(128), MLP(64)) == {}


def test_tied_embedding_warns_until_its_readout_multiplier_is_installed():
    model, base = GPT(128), GPT(32)
    with pytest.warns(UserWarning, match="forward multipliers"):
        param_groups(model, base, lr=1e-3)
    assert apply_multipliers(model, base) == {"head": pytest.approx(0.25)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        param_groups(model, base, lr=1e-3)


def test_muon_groups_put_hidden_matrices_on_muon_and_the_rest_on_adamw():
    model, base = GPT(128), GPT(32)
    apply_multipliers(model, base, optimizer="muon")
    groups = param_groups(model, base, lr=1e-2, wd=0.1, wd_rule="fan2025", optimizer="muon")
    pp = per_param(groups, model)
    s = mupsim.transfer(32, 128, 1e-2, 0.1, optimizer="muon", wd_rule="fan2025", multipliers=(0, 0, 1))
    for n, (lr, wd, kind) in pp.items():
        layer = (
            "hidden" if n.endswith(("qkv.weight", "proj.weight", "gate_up.weight", "down.weight")) else None
        )
        assert kind == ("muon" if layer else "adamw"), n
        if layer:
            assert lr == pytest.approx(s.layers["hidden"].lr) == pytest.approx(1e-2)  # Muon: c = 0
            assert wd == pytest.approx(s.layers["hidden"].wd)
    opts = make_optimizers(groups, betas=(0.9, 0.95), momentum=0.95)
    assert [type(o).__name__ for o in opts] == ["Muon", "AdamW"]
    w0 = model.blocks[0].qkv.weight.detach().clone()
    loss = model(torch.randint(0, 17, (2, 8))).square().mean()
    loss.backward()
    for o in opts:
        o.step()
    assert not torch.equal(w0, model.blocks[0].qkv.weight)


def test_muon_refuses_a_conv_kernel_as_hidden_matrix():
    with pytest.raises(MupsimError, match="c2.weight.*2-D"):
        param_groups(CNN(64), CNN(32), lr=1e-3, optimizer="muon")


def test_sgd_groups():
    groups = param_groups(MLP(128), MLP(32), lr=0.1, optimizer="sgd")
    s = mupsim.transfer(32, 128, 0.1, optimizer="sgd", multipliers=(0, 0, 0))
    by_layer = {g["layer"]: g["lr"] for g in groups}
    for layer in ("embedding", "hidden", "readout", "bias"):
        assert by_layer[layer] == pytest.approx(s.layers[layer].lr)
    (opt,) = make_optimizers(groups, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD)


def test_wd_without_rule_is_refused():
    with pytest.raises(MupsimError, match="weight-decay rule"):
        param_groups(MLP(128), MLP(32), lr=1e-3, wd=0.1)


def test_unknown_optimizer_is_refused():
    with pytest.raises(MupsimError, match="allowed: adamw, adam, sgd, muon"):
        param_groups(MLP(128), MLP(32), lr=1e-3, optimizer="lion")


def test_rescale_init_gives_measured_std_of_the_calculators_exponents():
    torch.manual_seed(0)
    model, base = MLP(512), MLP(32)
    rescale_init_(model, base)  # μP, multiplier-free gauge: readout b = 1, hidden b = 1/2
    m = 512 / 32
    std = {n: float(p.detach().std()) for n, p in model.named_parameters()}
    default = lambda fan_in: 1 / math.sqrt(3 * fan_in)  # nn.Linear's U(±1/√fan_in)  # noqa: E731
    assert std["out.weight"] == pytest.approx(default(32) / m, rel=0.05)
    assert std["hid.weight"] == pytest.approx(default(32) / math.sqrt(m), rel=0.05)
    assert std["inp.weight"] == pytest.approx(default(8), rel=0.05)  # embedding b = 0


def test_rescale_init_keeps_zero_readout_zero():
    model = MLP(128, zero_readout=True)
    rescale_init_(model, MLP(32, zero_readout=True))
    assert float(model.out.weight.detach().abs().max()) == 0.0


def test_rescale_init_needs_a_real_base_model():
    with torch.device("meta"):
        base = MLP(32)
    with pytest.raises(MupsimError, match="meta device"):
        rescale_init_(MLP(64), base)


def _train(model, opt, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=g)
        loss = model(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    base = MLP(16)
    a = MLP(64)
    (opt_a,) = make_optimizers(param_groups(a, base, lr=1e-2, wd=0.1, wd_rule="fan2025"))
    _train(a, opt_a, 3)
    buf = io.BytesIO()
    torch.save({"model": a.state_dict(), "opt": opt_a.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf)
    b = MLP(64)
    (opt_b,) = make_optimizers(param_groups(b, base, lr=1e-2, wd=0.1, wd_rule="fan2025"))
    b.load_state_dict(state["model"])
    opt_b.load_state_dict(state["opt"])
    _train(a, opt_a, 2, seed=1)
    _train(b, opt_b, 2, seed=1)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n


def test_lambda_schedule_keeps_per_layer_ratios():
    groups = param_groups(MLP(128), MLP(32), lr=1e-2, wd=0.1, wd_rule="timescale")
    (opt,) = make_optimizers(groups)
    ratios = [g["lr"] / groups[0]["lr"] for g in groups]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5**t)
    for _ in range(3):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(
        [0.125 * g["lr_scale"] * 1e-2 for g in groups]
    )
    assert [g["lr"] / opt.param_groups[0]["lr"] for g in opt.param_groups] == pytest.approx(ratios)


@pytest.mark.skipif(
    os.environ.get("MUPSIM_TORCH_COMPILE") != "1",
    reason="torch.compile on CPU builds inductor C++ kernels: 49 s on a 2-core machine, too slow "
    "for the fast suite; run with MUPSIM_TORCH_COMPILE=1",
)
def test_torch_compile_keeps_working():
    torch.manual_seed(0)
    base, eager = MLP(32), MLP(64)
    compiled_src = MLP(64)
    compiled_src.load_state_dict(eager.state_dict())
    out = []
    for model in (eager, compiled_src):
        apply_multipliers(model, base, multipliers=(0, 0, 1))
        (opt,) = make_optimizers(param_groups(model, base, lr=1e-2, multipliers=(0, 0, 1)))
        fwd = model if model is eager else torch.compile(model)
        g = torch.Generator().manual_seed(1)
        for _ in range(3):
            loss = fwd(torch.randn(4, 8, generator=g)).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(fwd(torch.ones(2, 8)).detach())
    assert torch.allclose(out[0], out[1], rtol=1e-4, atol=1e-6)


def test_rescale_init_keeps_norm_gains_at_one_and_is_idempotent():
    model, base = MLP(128), MLP(32)
    first = rescale_init_(model, base)
    again = rescale_init_(model, base)
    assert torch.equal(model.norm.weight.detach(), torch.ones(128))
    assert again["out.weight"][0] == pytest.approx(first["out.weight"][1])
    assert again["out.weight"][1] == pytest.approx(first["out.weight"][1])


def test_model_at_the_base_width_needs_a_delta_model():
    base = MLP(32)
    with pytest.raises(MupsimError, match="delta_model"):
        param_groups(MLP(32), base, lr=1e-3)
    groups = param_groups(MLP(32), base, lr=1e-3, delta_model=MLP(64))
    assert {g["layer"]: g["lr"] for g in groups}["hidden"] == pytest.approx(1e-3)  # m = 1 at the base width


def test_unknown_keyword_is_refused():
    with pytest.raises(MupsimError, match="unknown keyword"):
        rescale_init_(MLP(64), MLP(32), wd_rul="fan2025")


def test_save_settings_records_the_peak_lr_under_a_schedule(tmp_path):
    import json

    model, base = MLP(64), MLP(32)
    groups = param_groups(model, base, lr=1e-2, wd=0.1, wd_rule="fan2025")
    (opt,) = make_optimizers(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.0)
    opt.step()
    sched.step()
    save_settings(tmp_path / "s.json", model, opt.param_groups, width=64)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["width"] == 64
    assert doc["params"]["hid.weight"]["lr"] == pytest.approx(1e-2 / 2)
    assert doc["params"]["hid.weight"]["wd"] == pytest.approx(0.1 * 2**0.5)
    assert doc["params"]["hid.weight"]["layer"] == "hidden"


def test_depth_rule_scales_block_lrs_and_asks_for_the_branch_multiplier():
    with pytest.warns(UserWarning, match="residual branch"):
        groups = param_groups(MLP(128), MLP(32), lr=1e-2, depth_rule="completep", base_depth=2, depth=8)
    s = mupsim.transfer(32, 128, 1e-2, depth_rule="completep", base_depth=2, depth=8, multipliers=(0, 0, 0))
    assert {g["layer"]: g["lr"] for g in groups}["hidden"] == pytest.approx(s.layers["hidden"].lr)


def test_eps_goes_to_adam_groups_scaled_when_the_calculator_derives_it():
    groups = param_groups(MLP(128), MLP(32), lr=1e-3, eps=1e-6, optimizer="muon")
    s = mupsim.transfer(
        32,
        128,
        1e-3,
        optimizer="muon",
        multipliers=(0, 0, 0),
        **({"eps": 1e-6} if "eps" in inspect.signature(mupsim.transfer).parameters else {}),
    )
    for g in groups:
        if g["optimizer"] == "muon":
            assert "eps" not in g  # Muon's ε is Newton–Schulz's, not Adam's
        else:
            derived = getattr(s.layers[g["layer"]], "eps", None) if g["layer"] != "fixed" else None
            assert g["eps"] == pytest.approx(derived if derived is not None else 1e-6)


def test_muon_optimizers_build_for_a_model_with_a_fixed_size_bias():
    model, base = MLP(64), MLP(16)  # out.bias has d_out entries at every width: class "fixed"
    groups = param_groups(model, base, lr=1e-2, optimizer="muon")
    kinds = {n: k for n, (_, _, k) in per_param(groups, model).items()}
    assert kinds["out.bias"] == "adamw" and kinds["hid.weight"] == "muon"
    opts = make_optimizers(groups)
    assert [type(o).__name__ for o in opts] == ["Muon", "AdamW"]


def test_make_optimizers_refuses_unknown_keywords_and_other_muon_lr_conventions():
    groups = param_groups(MLP(64), MLP(16), lr=1e-2, optimizer="muon")
    with pytest.raises(MupsimError, match="betaz"):
        make_optimizers(groups, betaz=(0.9, 0.95))
    with pytest.raises(MupsimError, match="adjust_lr_fn"):
        make_optimizers(groups, adjust_lr_fn="match_rms_adamw")


def test_adam_eps_shrinks_like_one_over_m_by_default_and_stays_fixed_on_request():
    default = {g["layer"]: g["eps"] for g in param_groups(MLP(128), MLP(32), lr=1e-3, eps=1e-6)}
    assert default["hidden"] == pytest.approx(1e-6 / 4) and default["readout"] == pytest.approx(1e-6)
    fixed = param_groups(MLP(128), MLP(32), lr=1e-3, eps=1e-6, scale_eps=False)
    assert {g["eps"] for g in fixed} == {1e-6}  # as mup's MuAdamW
    with pytest.raises(MupsimError, match="scale_eps"):
        param_groups(MLP(128), MLP(32), scale_eps="no")
