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
HF ``Conv1D`` (GPT-2, by class)     (in, out)                  in
norms (1-D gain of torch.nn norms,  gain and bias vectors      —
any ``*Norm*`` class, ``*norm*``
or ``ln_*`` module)
==================================  =========================  ==============================

Classes (``mupsim.theory.layers``): fan-in fixed and fan-out scaling → ``embedding``; both →
``hidden`` (fused QKV (3n, n) and gated-MLP (2·r·n, n) weights are one hidden matrix); fan-in
scaling and fan-out fixed → ``readout``; a scaling vector → ``bias`` or ``norm_gain``; nothing
scales → ``fixed`` (width-independent: its tuned lr/wd/init are kept). Parameters of other
modules: see :func:`classify` (broadcast-shaped tensors with one growing dimension are
vector-like; a layout the bridge cannot know is an error listing every such parameter);
``overrides={"glob*pattern": kind or layout}`` (``fnmatch`` on the parameter name, first match
wins) settles them. Tied tensors are found with ``named_parameters(remove_duplicate=False)``:
an embedding also used as a readout is classified ``embedding`` with its readout uses recorded.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from dataclasses import asdict, dataclass, field

from torch import nn

from mupsim.errors import MupsimError
from mupsim.theory.layers import LAYERS
from mupsim.torch.attention import attention_logit_scale, attention_warnings  # noqa: F401 (re-exported)

LAYER_KINDS = LAYERS + ("fixed",)  # the calculator's layer classes, plus "does not scale"
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORMS = _NORMS + (nn.RMSNorm,)
LAYOUTS = ("out_in", "in_out")  # override values that declare a 2-D weight's storage order
_GAIN_ATTRS = ("weight", "gamma", "scale", "g")
_OVERRIDE_HELP = (
    "pass overrides={{{name!r}: KIND}} to param_groups/classify with KIND one of "
    + ", ".join(LAYER_KINDS)
    + ", or a layout: "
    + ", ".join(LAYOUTS)
)


@dataclass(frozen=True)
class ParamInfo:
    """One parameter: its class and the widths that set its multipliers.

    Attributes:
        name: the parameter's name in ``named_parameters``.
        layer: its class, one of LAYER_KINDS (embedding, hidden, readout, bias, norm_gain,
            fixed).
        shape: its shape in the model.
        base_shape: its shape in the base model.
        fan_in: at the target width (conv: in_channels/groups · prod(kernel)).
        fan_out: at the target width.
        base_width: the size, in the base model, of the dimension that sets its width
            multiplier m = width/base_width (μP's "main" dimension: fan-in when it scales,
            else fan-out).
        width: that dimension's size in the model.
        module: the owning module's name.
        module_type: the owning module's class name.
        source: shape | override | vector-like (the default for a broadcast tensor).
        aliases: other names of the same tensor (tied weights).
        readout_uses: modules that use a tied embedding as a readout.
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
    source: str = "shape"  # shape | override | vector-like (the default for a broadcast tensor)
    aliases: tuple = ()  # other names of the same tensor (tied weights)
    readout_uses: tuple = ()  # modules that use a tied embedding as a readout

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
    """The classification of every parameter of a model (``named_parameters`` order).

    Attributes:
        params: parameter name → :class:`ParamInfo`.
        warnings: what the classification could not settle for sure, one line each.
    """

    params: dict  # name -> ParamInfo
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
        rows = [("parameter", "class", "base shape", "shape", "fan_in", "m", "from")]
        for p in self.params.values():
            rows.append(
                (
                    p.name + (" (tied)" if p.aliases else ""),
                    p.layer,
                    "×".join(map(str, p.base_shape)),
                    "×".join(map(str, p.shape)),
                    str(p.fan_in),
                    f"{p.width_mult:g}",
                    "" if p.source == "shape" else p.source,
                )
            )
        w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(x) for c, x in zip(r, w)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        return "\n".join(lines)


def _owner(model: nn.Module, name: str):
    mod_name, _, attr = name.rpartition(".")
    return mod_name, (model.get_submodule(mod_name) if mod_name else model), attr


def _is_in_out(module) -> bool:
    """A layer that stores its weight (in, out): Hugging Face's ``Conv1D`` (GPT-2, GPT, CTRL),
    recognised by class name and defining package, or by its ``nx``/``nf`` attributes."""
    cls = type(module)
    return cls.__name__ == "Conv1D" and (
        cls.__module__.startswith("transformers") or (hasattr(module, "nx") and hasattr(module, "nf"))
    )


def _is_norm(module: nn.Module, module_name: str, attr: str) -> bool:
    """A norm's gain: torch.nn's norms, any module whose class name contains ``Norm`` (LlamaRMSNorm,
    T5LayerNorm, Qwen2RMSNorm, timm's LayerNorm2d, ...) or any module named like ``*norm*`` or
    ``ln``/``ln_*``/``ln1`` (GPT-2's ``ln_1``, ``ln_f``)."""
    if attr not in _GAIN_ATTRS:
        return False
    if isinstance(module, _NORMS):
        return attr == "weight"
    leaf = module_name.rpartition(".")[2].lower()
    return "Norm" in type(module).__name__ or "norm" in leaf or re.match(r"ln(_|\d|$)", leaf) is not None


def _layout(module: nn.Module, module_name: str, attr: str, ndim: int):
    """(fan_out dims, fan_in dims, vector kind) for a parameter, or None when unknown."""
    if ndim <= 1 or attr.endswith("bias") or attr in ("bias_k", "bias_v"):
        return (), (), "norm_gain" if _is_norm(module, module_name, attr) else "bias"
    if attr != "weight" and not isinstance(module, nn.MultiheadAttention):
        return None
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return (1,), (0,) + tuple(range(2, ndim)), None
    if isinstance(module, nn.modules.conv._ConvNd):
        return (0,), tuple(range(1, ndim)), None
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return (1,), (0,), None
    if isinstance(module, nn.Linear):
        return (0,), (1,), None
    if ndim == 2 and _is_in_out(module):
        return (1,), (0,), None
    if isinstance(module, nn.MultiheadAttention) and attr in (
        "in_proj_weight",
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
    ):
        return (0,), (1,), None
    return None


class _Ambiguous(Exception):
    """One parameter the shapes cannot classify: what is unclear and which overrides fit."""

    def __init__(self, name, text, fits):
        super().__init__(name)
        self.name, self.text, self.fits = name, text, fits

    def line(self) -> str:
        fits = " | ".join(map(repr, self.fits))
        return f"  {self.name!r}: {self.text}; overrides={{{self.name!r}: {fits}}}"


def _shape_text(base_shape, shape):
    return f"{tuple(base_shape)} at base → {tuple(shape)}"


def _unknown_layout(name, module, shape, base_shape, scales, kind):
    """Layout of a parameter whose module does not say which dimension is fan-in.

    Returns (fan_out dims, fan_in dims, vector kind, source) or raises _Ambiguous."""
    ndim = len(shape)
    sc = [i for i, s in enumerate(scales) if s]
    rest = tuple(i for i in range(ndim) if not scales[i])
    where = f"{type(module).__name__}, shape {_shape_text(base_shape, shape)}"
    if kind in LAYOUTS:
        if ndim != 2:
            raise _Ambiguous(name, f"layout {kind!r} is for 2-D weights ({where})", LAYER_KINDS)
        return ((0,), (1,), None, "override") if kind == "out_in" else ((1,), (0,), None, "override")
    if kind in ("bias", "norm_gain"):
        return (), (), kind, "override"
    if kind == "embedding" and sc:
        return tuple(sc), rest, None, "override"  # a one-hot-like input of the fixed size
    if kind == "readout" and sc:
        return rest, tuple(sc), None, "override"
    if kind is not None or not sc:
        return (0,), tuple(range(1, ndim)), None, ("override" if kind is not None else "shape")
    if len(sc) == 1:
        if ndim >= 3 or 1 in shape:
            # broadcast-shaped (ViT's cls_token (1, 1, n), pos_embed (1, P, n)): added, not
            # multiplied; vector-like, as mup's set_base_shapes (one infinite dimension) reads it
            return (), (), "bias", "vector-like"
        raise _Ambiguous(
            name,
            f"a matrix of {where} with one growing dimension: fan-in is the fixed "
            f"dimension (embedding), the growing one (readout), or it is added, not multiplied "
            f"(vector-like)",
            ("embedding", "readout", "bias"),
        )
    if ndim == 2 and shape[0] == shape[1] and base_shape[0] == base_shape[1]:
        return (0,), (1,), None, "shape"  # square at both widths: either layout, same fan-in
    if ndim == 2:
        raise _Ambiguous(
            name,
            f"both dimensions grow ({where}) and the module does not say which is fan-in "
            "('out_in': stored (out, in) like nn.Linear; 'in_out': stored (in, out) like GPT-2's "
            "Conv1D)",
            LAYOUTS,
        )
    raise _Ambiguous(
        name,
        f"{ndim}-D with growing dimensions {sc} ({where}); an override 'hidden' reads "
        "dimension 0 as fan-out and the rest as fan-in",
        LAYER_KINDS,
    )


def _use(name, module_name, module, attr, shape, base_shape, kind, delta_shape=None):
    """Classify one use (one name) of a tensor: (layer, fan_in, fan_out, base_w, w, source).

    A dimension scales when it differs between base_shape and delta_shape (default: shape).
    Raises _Ambiguous for a parameter the shapes and the module cannot settle."""
    ndim = len(shape)
    scales = [a != b for a, b in zip(delta_shape or shape, base_shape)]
    lay = _layout(module, module_name, attr, ndim)
    source = "shape"
    if lay is None or kind in LAYOUTS:
        *lay, source = _unknown_layout(name, module, shape, base_shape, scales, kind)
    out_dims, in_dims, vkind = lay
    fan_in = math.prod(shape[i] for i in in_dims) if in_dims else 1
    fan_out = math.prod(shape[i] for i in out_dims) if out_dims else (shape[0] if shape else 1)
    s_in = [i for i in in_dims if scales[i]]
    s_out = [i for i in out_dims if scales[i]]
    where = f"shape {_shape_text(base_shape, shape)}"
    if vkind is not None:  # vector-like
        sc = [i for i, s in enumerate(scales) if s]
        if len(sc) > 1:
            raise _Ambiguous(name, f"vector-like with several growing dimensions ({where})", LAYER_KINDS)
        if sc:
            return vkind, fan_in, fan_out, base_shape[sc[0]], shape[sc[0]], source
        return "fixed", fan_in, fan_out, 1, 1, source
    if (len(s_in) > 1 or len(s_out) > 1) and kind not in LAYER_KINDS:
        # with a kind given, m is that of the first growing fan-in (else fan-out) dimension
        raise _Ambiguous(
            name,
            f"several growing fan-in or fan-out dimensions ({where}; e.g. a kernel size "
            "that changes with width); a kind sets m from the first growing fan-in dimension",
            LAYER_KINDS,
        )
    main = s_in[0] if s_in else (s_out[0] if s_out else None)
    layer = {
        (True, True): "hidden",
        (False, True): "embedding",
        (True, False): "readout",
        (False, False): "fixed",
    }[(bool(s_in), bool(s_out))]
    if main is None:
        return layer, fan_in, fan_out, 1, 1, source
    return layer, fan_in, fan_out, base_shape[main], shape[main], source


def _match(name, overrides):
    for pat, kind in overrides.items():
        if fnmatch.fnmatchcase(name, pat):
            return pat, kind
    return None, None


def classify(
    model: nn.Module,
    base_model: nn.Module,
    overrides: dict | None = None,
    delta_model: nn.Module | None = None,
) -> Plan:
    """Classify every parameter of ``model`` against ``base_model`` (same architecture, another width).

    ``delta_model`` (as ``mup.set_base_shapes(delta=)``): a third width that decides which
    dimensions scale (those differing between base_model and delta_model), needed when ``model``
    is at the base width itself (m = 1) or to disambiguate dimensions that change by accident.

    ``overrides``: {glob pattern on the parameter name: value}, first match wins. A value in
    LAYER_KINDS fixes the class of matching parameters (their growing dimension is still read from
    the shapes; a 2-D weight of unknown layout given a kind is read as (out, in), so declare its
    layout instead when it is stored (in, out)); a layout in LAYOUTS declares how a 2-D weight of a module the bridge does not know
    is stored (``"out_in"`` as nn.Linear, ``"in_out"`` as GPT-2's Conv1D) and the class follows
    from the shapes.

    Known layouts: torch.nn's Linear, Embedding, conv and MultiheadAttention, and Hugging Face's
    ``Conv1D`` (recognised by class name, transformers is never imported). A parameter of another
    module with one growing dimension is vector-like (``bias``, source ``vector-like``) when it is
    broadcast-shaped (a size-1 dimension, or ≥3-D: ViT's cls_token and pos_embed), as
    ``mup.set_base_shapes`` reads it; a 2-D one of unknown layout with both dimensions growing is
    ``hidden`` only when it is square at both widths.

    Args:
        model: the model at the target width.
        base_model: the same architecture at the base width.
        overrides: {glob pattern on the parameter name: layer kind or layout}, as above.
        delta_model: the same architecture at a third width, as above.

    Returns:
        Plan: a :class:`ParamInfo` per parameter.

    Raises:
        MupsimError: no dimension differs between the models, or ambiguous parameters: one
            error lists all of them, each with the override values that fit.

    Examples:
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> plan = classify(mlp(64), mlp(16))
        >>> [(name, p.layer, p.width_mult) for name, p in plan.params.items()][:5]
        [('0.weight', 'embedding', 4.0), ('0.bias', 'bias', 4.0), ('2.weight', 'hidden', 4.0),
         ('2.bias', 'bias', 4.0), ('4.weight', 'readout', 4.0)]
    """
    if not isinstance(model, nn.Module) or not isinstance(base_model, nn.Module):
        raise MupsimError(
            f"model and base_model must be torch.nn.Module instances, got "
            f"{type(model).__name__} and {type(base_model).__name__}"
        )
    overrides = dict(overrides or {})
    for pat, kind in overrides.items():
        if not isinstance(pat, str) or not isinstance(kind, str) or kind not in LAYER_KINDS + LAYOUTS:
            raise MupsimError(
                f"override {pat!r}: {kind!r} is not a layer kind or layout; allowed: "
                f"{', '.join(LAYER_KINDS + LAYOUTS)}"
            )
    uses = list(model.named_parameters(remove_duplicate=False))
    if not uses:
        raise MupsimError(f"{type(model).__name__} has no parameters to classify")
    base = dict(base_model.named_parameters(remove_duplicate=False))
    delta = None if delta_model is None else dict(delta_model.named_parameters(remove_duplicate=False))
    if delta is not None and set(delta) != set(base):
        raise MupsimError(
            "delta_model and base_model differ in parameter names; build all from the same code"
        )
    names = [n for n, _ in uses]
    missing = [n for n in names if n not in base]
    extra = [n for n in base if n not in set(names)]
    if missing or extra:
        raise MupsimError(
            f"model and base_model differ in parameter names (only in model: {missing[:5]}, only in "
            f"base_model: {extra[:5]}); build the base model from the same code at another width"
        )
    for pat in overrides:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise MupsimError(f"override pattern {pat!r} matches no parameter; names look like {names[:4]}")
    groups: dict[int, list[str]] = {}
    tensors = {}
    for n, p in uses:
        groups.setdefault(id(p), []).append(n)
        tensors[n] = p
    anything_scales = False
    params, warnings, unclear = {}, [], []
    for _key, alias_names in groups.items():
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
                raise MupsimError(
                    f"parameter {n!r} has shape {shape} but {bshape} in base_model (different rank)"
                )
            mname, mod, attr = _owner(model, n)
            dshape = None if delta is None else tuple(delta[n].shape)
            if dshape is not None and len(dshape) != len(shape):
                raise MupsimError(
                    f"parameter {n!r} has shape {shape} but {dshape} in delta_model (different rank)"
                )
            try:
                layer, fi, fo, bw, w, src = _use(n, mname, mod, attr, shape, bshape, kind, dshape)
            except _Ambiguous as exc:
                unclear.append(exc)
                break
            infos.append((n, mname, mod, layer, fi, fo, bw, w, bshape, src))
        if not infos or len(infos) < len(alias_names):
            continue
        anything_scales |= any(a != b for a, b in zip(dshape or shape, infos[0][8]))
        layers = {i[3] for i in infos}
        readout_uses = ()
        if kind is None and len(layers) > 1:
            if layers == {"embedding", "readout"}:
                readout_uses = tuple(i[1] for i in infos if i[3] == "readout")
                infos = [i for i in infos if i[3] == "embedding"] + [i for i in infos if i[3] != "embedding"]
                layers = {"embedding"}
            else:
                raise MupsimError(
                    f"tied parameter {alias_names} is used as {sorted(layers)}; only an embedding "
                    "tied to a readout is understood; " + _OVERRIDE_HELP.format(name=first)
                )
        n, mname, mod, layer, fi, fo, bw, w, bshape, src = infos[0]
        if kind in LAYER_KINDS:
            layer = kind
            if not any(a != b for a, b in zip(dshape or shape, bshape)) and kind != "fixed":
                raise MupsimError(
                    f"override {pat!r} makes {first!r} a {kind!r} parameter, but none of its "
                    f"dimensions scales (shape {shape} at both widths); use 'fixed'"
                )
        params[first] = ParamInfo(
            first,
            layer,
            shape,
            bshape,
            fi,
            fo,
            bw,
            w,
            mname,
            type(mod).__name__,
            "override" if kind is not None else src,
            tuple(alias_names[1:]),
            readout_uses,
        )
    if unclear:
        raise MupsimError(
            f"{len(unclear)} parameter(s) of {type(model).__name__} are ambiguous (the module type does "
            "not say which dimension is fan-in); declare each with overrides={name: VALUE} in "
            "param_groups/classify, VALUE one of "
            + ", ".join(LAYER_KINDS + LAYOUTS)
            + ":\n"
            + "\n".join(e.line() for e in unclear)
        )
    if not anything_scales:
        raise MupsimError(
            "no dimension differs between model and base_model; build the base model at another "
            "width (a smaller d_model / hidden size) so that the scaling dimensions can be found, or, "
            "for the model at the base width itself, pass delta_model= (the model at another width)"
        )
    warnings += attention_warnings(model, base_model)
    return Plan(params, warnings)
