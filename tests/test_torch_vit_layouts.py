"""timm-style vision layouts: cls_token, pos_embed, Attention.scale, LayerNorm2d, layer scale.

timm itself is not a test dependency (its releases import torchvision, whose matching wheel is a
CUDA build that replaces the CPU torch), so the modules below reproduce timm's parameter names,
shapes and attributes (timm.models.vision_transformer.Attention: ``head_dim``, ``scale``,
``fused_attn``; timm.layers.LayerNorm2d; VisionTransformer's ``cls_token`` (1, 1, n) and
``pos_embed`` (1, P, n))."""

import warnings

import pytest

torch = pytest.importorskip("torch")
from test_torch_groups import mup_muadamw_oracle  # noqa: E402  (mup's MuAdamW rule)
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from mupsim.errors import MupsimError  # noqa: E402
from mupsim.torch import attention_logit_scale, classify, param_groups, set_attention_scale  # noqa: E402


class Attention(nn.Module):
    def __init__(self, dim, num_heads=2):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused_attn = True
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if self.fused_attn:  # timm's fused path does not pass self.scale
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            x = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class LayerNorm2d(nn.Module):
    """A channels-first norm that is not a torch.nn norm subclass (the class name says Norm)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class ViT(nn.Module):
    def __init__(self, dim, patches=4, num_classes=5, heads=2):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 4, stride=4)
        self.stem_norm = LayerNorm2d(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, patches + 1, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, img):
        x = self.stem_norm(self.patch_embed(img)).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        x = x + self.ls1(self.attn(self.norm1(x)))
        return self.head(self.norm(x)[:, 0])


def test_vit_is_classified_with_no_overrides():
    plan = classify(ViT(64), ViT(32))
    got = {n: (p.layer, p.source) for n, p in plan.params.items()}
    assert got["cls_token"] == ("bias", "vector-like") and got["pos_embed"] == ("bias", "vector-like")
    assert got["stem_norm.weight"][0] == "norm_gain" and got["stem_norm.bias"][0] == "bias"
    assert got["ls1.gamma"][0] == "bias"
    assert (
        got["patch_embed.weight"][0] == "embedding" and plan.params["patch_embed.weight"].fan_in == 3 * 4 * 4
    )
    assert got["attn.qkv.weight"][0] == "hidden" and got["head.weight"][0] == "readout"
    assert "vector-like" in plan.table()


def test_vector_like_default_can_be_overridden():
    plan = classify(ViT(64), ViT(32), overrides={"cls_token": "embedding", "pos_embed": "embedding"})
    for n in ("cls_token", "pos_embed"):
        p = plan.params[n]
        assert (p.layer, p.source, p.width_mult) == ("embedding", "override", 2)
    assert plan.params["pos_embed"].fan_in == 5  # one-hot over the 1·P positions


def test_vit_learning_rates_agree_with_mup_muadamw():
    model, base = ViT(64), ViT(32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # attention scale and readout multiplier advice
        groups = param_groups(model, base, lr=1e-2, multipliers=(0, 0, 1))
    ours = {n: g["lr"] for g in groups for n in g["mupsim_names"]}
    ref = mup_muadamw_oracle(model, base, 1e-2, 0.0)
    assert ours == {n: pytest.approx(lr) for n, (lr, _) in ref.items()}


def test_timm_attention_scale_is_warned_and_set_with_the_fused_path_off():
    model, base = ViT(64), ViT(32)
    line = next(w for w in classify(model, base).warnings if w.startswith("attn "))
    assert f"scale = {32**-0.5:.6g}" in line
    assert set_attention_scale(model, base) == {"attn": pytest.approx(attention_logit_scale(32, 16))}
    assert model.attn.scale == pytest.approx(0.125) and model.attn.fused_attn is False
    assert not classify(model, base).warnings
    model(torch.randn(2, 3, 8, 8))


def test_multihead_attention_scale_cannot_be_set_and_says_so():
    with pytest.warns(UserWarning, match="not set for: .*MultiheadAttention"):
        assert set_attention_scale(nn.MultiheadAttention(64, 2), nn.MultiheadAttention(32, 2)) == {}


class Raw(nn.Module):
    """Raw parameters whose layout no module type declares."""

    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, n)
        self.w_in_out = nn.Parameter(torch.zeros(n, 3 * n))  # stored (in, out)
        self.w_out = nn.Parameter(torch.zeros(n, 7))  # readout or embedding?
        self.square = nn.Parameter(torch.zeros(n, n))  # fan-in n whichever way


def test_every_ambiguous_parameter_is_in_one_error_with_the_values_that_fit():
    with pytest.raises(MupsimError) as exc:
        classify(Raw(64), Raw(32))
    text = str(exc.value)
    assert text.startswith("2 parameter(s) of Raw are ambiguous")
    assert "overrides={'w_in_out': 'out_in' | 'in_out'}" in text
    assert "overrides={'w_out': 'embedding' | 'readout' | 'bias'}" in text
    assert "'square'" not in text


def test_layout_override_gives_the_fan_in():
    plan = classify(Raw(64), Raw(32), overrides={"w_in_out": "in_out", "w_out": "readout"})
    p = plan.params["w_in_out"]
    assert (p.layer, p.fan_in, p.width_mult, p.source) == ("hidden", 64, 2, "override")
    assert plan.params["w_out"].fan_in == 64 and plan.params["square"].layer == "hidden"
