"""Which dimensions of each parameter grow with width, and the layer class that follows.

A parameter's dimensions are compared between the model at a base width and at the target
width (either may live on the ``meta`` device: only shapes are read). A dimension that differs
"scales" (is infinite in μP's sense, as ``mup.set_base_shapes`` decides). The owning module
says which dimensions are fan-in and fan-out:

==================================  =========================  ==============================
module                              weight layout              fan_in
==================================  =========================  ==============================
``nn.Linear`` (and subclasses)      (out, in)                  in
``nn.Embedding``/``EmbeddingBag``   (vocab, dim)               vocab (one-hot input)
``nn.ConvNd``                       (out, in/groups, *k)       in/groups · prod(k)
``nn.ConvTransposeNd``              (in, out/groups, *k)       in · prod(k)
``nn.MultiheadAttention``           in_proj (3E, E), q/k/v     E
norms (LayerNorm, RMSNorm, ...)     gain and bias vectors      —
==================================  =========================  ==============================

Classes (``mupsim.theory.layers``): fan-in fixed and fan-out scaling → ``embedding``; both →
``hidden`` (fused QKV (3n, n) and gated-MLP (2·r·n, n) weights are one hidden matrix); fan-in
scaling and fan-out fixed → ``readout``; a scaling vector → ``bias`` or ``norm_gain``; nothing
scales → ``fixed`` (width-independent: its tuned lr/wd/init are kept). A 2-D parameter of an
unknown module with exactly one scaling dimension, or a ≥3-D one, is ambiguous and raises an
error naming it; ``overrides={"glob*pattern": kind}`` (``fnmatch`` on the parameter name, first
match wins) settles it. Tied tensors are found with ``named_parameters(remove_duplicate=False)``:
an embedding also used as a readout is classified ``embedding`` with its readout uses recorded.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from mupsim.errors import MupsimError
from mupsim.theory.layers import LAYERS

LAYER_KINDS = LAYERS + ("fixed",)   # the calculator's layer classes, plus "does not scale"
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORMS = _NORMS + (nn.RMSNorm,)
_OVERRIDE_HELP = ("pass overrides={{{name!r}: KIND}} to param_groups/classify with KIND one of "
                  + ", ".join(LAYER_KINDS))


@dataclass(frozen=True)
class ParamInfo:
    """One parameter: its class and the widths that set its multipliers.

    ``base_width``/``width`` are the sizes, at the base and target model, of the dimension that
    sets its width multiplier m = width/base_width (μP's "main" dimension: fan-in when it scales,
    else fan-out). ``fan_in`` is at the target width (conv: in_channels/groups · prod(kernel)).
    """

    name: str
    layer: str
    shape: tuple
    base_shape: tuple
    fan_in: int
    fan_out: int
    base_width: int
    width: int
    module: str
    module_type: str
    source: str = "shape"            # shape | override
    aliases: tuple = ()              # other names of the same tensor (tied weights)
    readout_uses: tuple = ()         # modules that use a tied embedding as a readout

    @property
    def width_mult(self) -> float:
        return self.width / self.base_width

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"], d["base_shape"] = list(self.shape), list(self.base_shape)
        d["aliases"], d["readout_uses"] = list(self.aliases), list(self.readout_uses)
        d["width_mult"] = self.width_mult
        return d


@dataclass
class Plan:
    """The classification of every parameter of a model (``named_parameters`` order)."""

    params: dict                     # name -> ParamInfo
    warnings: list = field(default_factory=list)

    def by_layer(self) -> dict:
        out = {k: [] for k in LAYER_KINDS}
        for p in self.params.values():
            out[p.layer].append(p.name)
        return out

    def to_dict(self) -> dict:
        return {"params": {k: v.to_dict() for k, v in self.params.items()}, "warnings": list(self.warnings)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        rows = [("parameter", "class", "base shape", "shape", "fan_in", "m")]
        for p in self.params.values():
            rows.append((p.name + (" (tied)" if p.aliases else ""), p.layer, "×".join(map(str, p.base_shape)),
                         "×".join(map(str, p.shape)), str(p.fan_in), f"{p.width_mult:g}"))
        w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(x) for c, x in zip(r, w)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        return "\n".join(lines)


def attention_logit_scale(d_head: int, base_d_head: int) -> float:
    """Softmax scale for q·k logits: √base_d_head / d_head.

    Equal to the usual 1/√d_head at the base width and ∝ 1/d_head beyond it (μP, TP5 §J): after
    training, q and k are correlated, so q·k grows like d_head, not √d_head. Only the head
    dimension matters: growing the width by adding heads at fixed d_head leaves every logit's
    sum the same length, so the scale stays 1/√d_head (this function then returns exactly that).
    """
    for nm, v in (("d_head", d_head), ("base_d_head", base_d_head)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise MupsimError(f"{nm} must be a positive integer, got {v!r}")
    return math.sqrt(base_d_head) / d_head


def _owner(model: nn.Module, name: str):
    mod_name, _, attr = name.rpartition(".")
    return mod_name, (model.get_submodule(mod_name) if mod_name else model), attr


def _layout(module: nn.Module, attr: str, ndim: int):
    """(fan_out dims, fan_in dims, vector kind) for a parameter, or None when unknown."""
    if ndim <= 1 or attr.endswith("bias") or attr in ("bias_k", "bias_v"):
        kind = "norm_gain" if isinstance(module, _NORMS) and attr == "weight" else "bias"
        return (), (), kind
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and attr == "weight":
        return (1,), (0,) + tuple(range(2, ndim)), None
    if isinstance(module, nn.modules.conv._ConvNd) and attr == "weight":
        return (0,), tuple(range(1, ndim)), None
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and attr == "weight":
        return (1,), (0,), None
    if isinstance(module, nn.Linear) and attr == "weight":
        return (0,), (1,), None
    if isinstance(module, nn.MultiheadAttention) and attr in (
            "in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
        return (0,), (1,), None
    return None


def _use(name, module_name, module, attr, shape, base_shape, overrides_kind, delta_shape=None):
    """Classify one use (one name) of a tensor: (layer, fan_in, fan_out, base_w, w).

    A dimension scales when it differs between base_shape and delta_shape (default: shape)."""
    ndim = len(shape)
    scales = [a != b for a, b in zip(delta_shape or shape, base_shape)]
    lay = _layout(module, attr, ndim)
    if overrides_kind is not None and lay is None:
        # an overridden parameter of an unknown module: read it as (out, in, ...) to find its width
        lay = ((0,), tuple(range(1, ndim)), None)
    if lay is None:
        if not any(scales):
            lay = ((0,), tuple(range(1, ndim)), None)
        elif ndim == 2 and all(scales):
            lay = ((0,), (1,), None)
        else:
            what = ("only one of its two dimensions scales" if ndim == 2
                    else f"it is {ndim}-D with scaling dimensions {[i for i, s in enumerate(scales) if s]}")
            raise MupsimError(
                f"parameter {name!r} of {type(module).__name__} (shape {tuple(base_shape)} at base → "
                f"{tuple(shape)}) is ambiguous: {what} and the module type does not say which dimension is "
                f"fan-in; " + _OVERRIDE_HELP.format(name=name))
    out_dims, in_dims, vkind = lay
    fan_in = math.prod(shape[i] for i in in_dims) if in_dims else 1
    fan_out = math.prod(shape[i] for i in out_dims) if out_dims else (shape[0] if shape else 1)
    s_in = [i for i in in_dims if scales[i]]
    s_out = [i for i in out_dims if scales[i]]
    if len(s_in) > 1 or len(s_out) > 1:
        raise MupsimError(
            f"parameter {name!r} (shape {tuple(base_shape)} → {tuple(shape)}) has several scaling fan-in or "
            f"fan-out dimensions (e.g. a kernel size that changes with width); " + _OVERRIDE_HELP.format(name=name))
    if vkind is not None:  # vector-like
        sc = [i for i, s in enumerate(scales) if s]
        if len(sc) > 1:
            raise MupsimError(f"vector-like parameter {name!r} (shape {tuple(base_shape)} → {tuple(shape)}) has "
                              "several scaling dimensions; " + _OVERRIDE_HELP.format(name=name))
        if sc:
            return vkind, fan_in, fan_out, base_shape[sc[0]], shape[sc[0]]
        return "fixed", fan_in, fan_out, 1, 1
    main = s_in[0] if s_in else (s_out[0] if s_out else None)
    layer = {(True, True): "hidden", (False, True): "embedding", (True, False): "readout",
             (False, False): "fixed"}[(bool(s_in), bool(s_out))]
    if main is None:
        return layer, fan_in, fan_out, 1, 1
    return layer, fan_in, fan_out, base_shape[main], shape[main]


def _match(name, overrides):
    for pat, kind in overrides.items():
        if fnmatch.fnmatchcase(name, pat):
            return pat, kind
    return None, None


def classify(model: nn.Module, base_model: nn.Module, overrides: dict | None = None,
             delta_model: nn.Module | None = None) -> Plan:
    """Classify every parameter of ``model`` against ``base_model`` (same architecture, another width).

    ``delta_model`` (as ``mup.set_base_shapes(delta=)``): a third width that decides which
    dimensions scale (those differing between base_model and delta_model), needed when ``model``
    is at the base width itself (m = 1) or to disambiguate dimensions that change by accident.

    ``overrides``: {glob pattern on the parameter name: kind} with kind in LAYER_KINDS; it fixes the
    class of matching parameters (their scaling dimension is still read from the shapes).
    Raises MupsimError naming the parameter for anything ambiguous or mismatched.
    """
    if not isinstance(model, nn.Module) or not isinstance(base_model, nn.Module):
        raise MupsimError(f"model and base_model must be torch.nn.Module instances, got "
                          f"{type(model).__name__} and {type(base_model).__name__}")
    overrides = dict(overrides or {})
    for pat, kind in overrides.items():
        if not isinstance(pat, str) or kind not in LAYER_KINDS:
            raise MupsimError(f"override {pat!r}: {kind!r} is not a layer kind; allowed: {', '.join(LAYER_KINDS)}")
    uses = list(model.named_parameters(remove_duplicate=False))
    if not uses:
        raise MupsimError(f"{type(model).__name__} has no parameters to classify")
    base = dict(base_model.named_parameters(remove_duplicate=False))
    delta = None if delta_model is None else dict(delta_model.named_parameters(remove_duplicate=False))
    if delta is not None and set(delta) != set(base):
        raise MupsimError("delta_model and base_model differ in parameter names; build all from the same code")
    names = [n for n, _ in uses]
    missing = [n for n in names if n not in base]
    extra = [n for n in base if n not in set(names)]
    if missing or extra:
        raise MupsimError(f"model and base_model differ in parameter names (only in model: {missing[:5]}, only in "
                          f"base_model: {extra[:5]}); build the base model from the same code at another width")
    for pat in overrides:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise MupsimError(f"override pattern {pat!r} matches no parameter; names look like {names[:4]}")
    groups: dict[int, list[str]] = {}
    tensors = {}
    for n, p in uses:
        groups.setdefault(id(p), []).append(n)
        tensors[n] = p
    anything_scales = False
    params, warnings = {}, []
    for key, alias_names in groups.items():
        first = alias_names[0]
        shape = tuple(tensors[first].shape)
        infos = []
        pat, kind = None, None
        for n in alias_names:
            p_pat, p_kind = _match(n, overrides)
            if p_kind is not None and kind is None:
                pat, kind = p_pat, p_kind
        for n in alias_names:
            bshape = tuple(base[n].shape)
            if len(bshape) != len(shape):
                raise MupsimError(f"parameter {n!r} has shape {shape} but {bshape} in base_model (different rank)")
            mname, mod, attr = _owner(model, n)
            dshape = None if delta is None else tuple(delta[n].shape)
            if dshape is not None and len(dshape) != len(shape):
                raise MupsimError(f"parameter {n!r} has shape {shape} but {dshape} in delta_model (different rank)")
            layer, fi, fo, bw, w = _use(n, mname, mod, attr, shape, bshape, kind, dshape)
            infos.append((n, mname, mod, layer, fi, fo, bw, w, bshape))
        anything_scales |= any(a != b for a, b in zip(dshape or shape, infos[0][8]))
        layers = {i[3] for i in infos}
        readout_uses = ()
        if kind is None and len(layers) > 1:
            if layers == {"embedding", "readout"}:
                readout_uses = tuple(i[1] for i in infos if i[3] == "readout")
                infos = [i for i in infos if i[3] == "embedding"] + [i for i in infos if i[3] != "embedding"]
                layers = {"embedding"}
            else:
                raise MupsimError(f"tied parameter {alias_names} is used as {sorted(layers)}; only an embedding "
                                  "tied to a readout is understood; " + _OVERRIDE_HELP.format(name=first))
        n, mname, mod, layer, fi, fo, bw, w, bshape = infos[0]
        if kind is not None:
            layer = kind
            if not any(a != b for a, b in zip(dshape or shape, bshape)) and kind != "fixed":
                raise MupsimError(f"override {pat!r} makes {first!r} a {kind!r} parameter, but none of its "
                                  f"dimensions scales (shape {shape} at both widths); use 'fixed'")
        params[first] = ParamInfo(first, layer, shape, bshape, fi, fo, bw, w, mname, type(mod).__name__,
                                  "override" if kind is not None else "shape", tuple(alias_names[1:]), readout_uses)
    if not anything_scales:
        raise MupsimError("no dimension differs between model and base_model; build the base model at another "
                          "width (a smaller d_model / hidden size) so that the scaling dimensions can be found, or, "
                          "for the model at the base width itself, pass delta_model= (the model at another width)")
    for mname, mod in model.named_modules():
        if isinstance(mod, nn.MultiheadAttention):
            bmod = base_model.get_submodule(mname)
            if mod.head_dim != bmod.head_dim:
                warnings.append(f"{mname}: nn.MultiheadAttention scales logits by 1/sqrt(head_dim) and head_dim "
                                f"grows ({bmod.head_dim} → {mod.head_dim}); μP wants 1/head_dim (see "
                                "mupsim.torch.attention_logit_scale), or grow the number of heads instead")
    return Plan(params, warnings)
