"""Optimizer parameter groups, init rescaling and forward multipliers from the calculator.

Semantics (those of :func:`mupsim.transfer`): you tuned ``lr`` and ``wd`` (a number, or a dict
class → number) on the base model; every parameter with width multiplier m = width/base_width
(see :class:`mupsim.torch.shapes.ParamInfo`) gets ``lr·m^(-c)``, ``wd·m^(-w)`` (0 where the rule
decays nothing: vector-like parameters, and what the rule leaves undecayed), its init std
``std_base·m^(-b)`` and a forward multiplier ``m^(-a)`` (1 at the base width). ``fixed``
parameters (no dimension scales) keep ``lr`` and ``wd`` (vectors: no decay) and their init.

Gauge: by default the multiplier-free gauge ``multipliers=(0, 0, 0)`` (TP5 Table 3: no module
needs a multiplier, the readout gets a 1/n-scaled init and lr instead). A tied embedding/readout
cannot be multiplier-free (the embedding wants init and lr Θ(1), the readout 1/n): then the
readout's multiplier exponent is chosen so that both uses agree in init and lr (for μP/Adam:
``(0, 0, 1)``, what ``mup``'s ``MuSharedReadout`` does) and the readout use needs a forward
multiplier: :func:`apply_multipliers` installs it as a forward pre-hook (input × m^(-a), so a
bias is not scaled), and :func:`param_groups` warns while it is missing.

Schedules: each group stores its ``lr``; PyTorch schedulers that multiply each group's initial lr
(``LambdaLR``, ``CosineAnnealingLR``, ``LinearLR``, ``SequentialLR`` of them) keep the per-layer
ratios. ``OneCycleLR``/``CyclicLR`` set lr absolutely: give them a list with one ``max_lr`` per
group (``[g["lr"] for g in groups]``). ``lr_scale`` = group lr / tuned lr is stored for custom
loops. Groups come in a deterministic order (first appearance in ``named_parameters``), so an
optimizer's ``state_dict`` reloads into an optimizer built the same way.

Muon (``optimizer="muon"``): hidden matrices go to ``torch.optim.Muon`` (its default
``adjust_lr_fn`` multiplies lr by √max(1, fan_out/fan_in), a width-independent constant for a
hidden matrix of fixed aspect ratio, so the calculator's exponent c = 0 holds), everything else
to AdamW with Adam's rates; each group carries ``"optimizer": "muon" | "adamw"`` and
:func:`make_optimizers` returns one optimizer per kind.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

import mupsim
from mupsim.errors import MupsimError, choice
from mupsim.sim.result import _atomic_write
from mupsim.torch.shapes import LAYER_KINDS, Plan, classify

TORCH_OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
ADAM_EPS = 1e-8  # torch.optim.Adam/AdamW default
_MULT_ATTR = "_mupsim_multiplier"


def _per_class(name, value):
    if isinstance(value, dict):
        bad = [k for k in value if k not in LAYER_KINDS]
        if bad:
            raise MupsimError(f"{name}: unknown class(es) {bad}; allowed: {', '.join(LAYER_KINDS)}")
        missing = [k for k in LAYER_KINDS if k not in value]
        if missing:
            raise MupsimError(f"{name} given per class must name every class; missing {missing}")
        out = dict(value)
    else:
        out = {k: value for k in LAYER_KINDS}
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise MupsimError(f"{name}[{k}] must be a finite non-negative number, got {v!r}")
    return {k: float(v) for k, v in out.items()}


def _choose_gauge(plan: Plan, rule: dict, multipliers):
    """Multipliers (a_emb, a_hid, a_out): multiplier-free unless a tied readout forces a_out."""
    tied = [p for p in plan.params.values() if p.readout_uses]
    if multipliers is not None:
        gauge = tuple(multipliers)
    else:
        gauge = (0, 0, 0)
        if tied:
            e0 = mupsim.exponents(multipliers=gauge, **rule).layers
            gauge = (0, 0, e0["readout"].init_std - e0["embedding"].init_std)
    if tied:
        e = mupsim.exponents(multipliers=gauge, **rule).layers
        if (e["readout"].init_std, e["readout"].lr) != (e["embedding"].init_std, e["embedding"].lr):
            raise MupsimError(
                f"tied parameter {tied[0].name!r} is both embedding and readout, but under multipliers {gauge} "
                f"their init/lr exponents differ (embedding b={e['embedding'].init_std}, c={e['embedding'].lr}; "
                f"readout b={e['readout'].init_std}, c={e['readout'].lr}); untie them or pass multipliers that "
                "make them agree"
            )
    return gauge


@lru_cache(maxsize=256)
def _transfer(base_width, width, wd_on, key):
    return mupsim.transfer(
        base_width,
        width,
        1.0,
        1.0 if wd_on else 0.0,
        base_multiplier=1.0,
        base_init_std=1.0,
        eps=1.0,
        **dict(key),
    )


def _settings(
    model,
    base_model,
    lr,
    wd,
    parameterization,
    optimizer,
    wd_rule,
    alignment_exponent,
    alignment,
    multipliers,
    depth_rule,
    base_depth,
    depth,
    overrides,
    plan,
    delta_model=None,
):
    """Per-parameter (info, lr, wd, eps factor, init factor, multiplier) and the plan."""
    opt = choice("optimizer for the PyTorch bridge", optimizer, TORCH_OPTIMIZERS)
    lr_c = _per_class("lr", lr)
    wd_c = _per_class("wd", wd)
    if plan is None:
        plan = classify(model, base_model, overrides, delta_model)
    rule = dict(
        parameterization=parameterization,
        optimizer=opt,
        alignment=alignment,
        wd_rule=wd_rule,
        alignment_exponent=alignment_exponent,
        depth_rule=depth_rule if depth is not None else None,
    )
    if any(v > 0 for v in wd_c.values()) and wd_rule is None:
        raise MupsimError(
            f"wd > 0 needs a weight-decay rule to scale it; choose wd_rule= one of: "
            f"{', '.join(mupsim.WD_RULES)}"
        )
    gauge = _choose_gauge(plan, rule, multipliers)
    kw = dict(rule, multipliers=gauge)
    if depth is not None:
        kw.update(base_depth=base_depth, depth=depth)
    key = tuple(sorted(kw.items()))
    out, s = [], None
    for p in plan.params.values():
        if p.layer == "fixed":
            # a parameter that does not scale: Muon's AdamW side takes it (Muon trains hidden matrices only)
            out.append(
                dict(
                    info=p,
                    kind="adamw" if opt == "muon" else opt,
                    lr=lr_c["fixed"],
                    wd=wd_c["fixed"] if len(p.shape) >= 2 else 0.0,
                    init=1.0,
                    mult={},
                    eps=None,
                )
            )
            continue
        s = _transfer(p.base_width, p.width, wd_rule is not None, key)
        ls = s.layers[p.layer]
        mult = {}
        a = ls.multiplier
        if a != 1.0:
            mult[p.module] = a
        for mname in p.readout_uses:
            r = s.layers["readout"].multiplier
            if r != 1.0:
                mult[mname] = r
        kind = opt
        if opt == "muon":
            kind = "muon" if p.layer == "hidden" else "adamw"
            if kind == "muon" and len(p.shape) != 2:
                raise MupsimError(
                    f"hidden parameter {p.name!r} has shape {p.shape}; torch.optim.Muon takes 2-D "
                    f"matrices only: reshape it, or override its class (overrides={{{p.name!r}: ...}})"
                )
        out.append(
            dict(
                info=p,
                kind=kind,
                lr=lr_c[p.layer] * ls.lr,
                wd=wd_c[p.layer] * ls.wd,
                init=ls.init_std,
                mult=mult,
                eps=ls.eps,
            )
        )
    return out, plan, s


def _rule_kwargs(
    lr,
    wd,
    parameterization,
    optimizer,
    wd_rule,
    alignment_exponent,
    alignment,
    multipliers,
    depth_rule,
    base_depth,
    depth,
    overrides,
    plan,
    delta_model,
):
    return dict(
        lr=lr,
        wd=wd,
        parameterization=parameterization,
        optimizer=optimizer,
        wd_rule=wd_rule,
        alignment_exponent=alignment_exponent,
        alignment=alignment,
        multipliers=multipliers,
        depth_rule=depth_rule,
        base_depth=base_depth,
        depth=depth,
        overrides=overrides,
        plan=plan,
        delta_model=delta_model,
    )


def param_groups(
    model: nn.Module,
    base_model: nn.Module,
    lr=1e-3,
    wd=0.0,
    *,
    parameterization="mup",
    optimizer="adamw",
    wd_rule=None,
    alignment_exponent=None,
    alignment="full",
    multipliers=None,
    depth_rule=None,
    base_depth=None,
    depth=None,
    eps=None,
    scale_eps=True,
    overrides=None,
    plan=None,
    delta_model=None,
) -> list[dict]:
    """Parameter groups for ``torch.optim.<optimizer>`` with the calculator's per-layer lr and wd.

    ``lr``/``wd``: tuned at the base width (a number, or a dict with one value per class in
    LAYER_KINDS). ``eps``: Adam's ε tuned at the base width (default torch's 1e-8) for the
    Adam/AdamW groups, scaled per layer by m^(-e) when the calculator derives an ε exponent (μP
    with Adam: e = 1 for embedding, hidden and vector-like parameters, so ε shrinks like 1/m and
    stays below the shrinking gradients; ``mup``'s MuAdamW keeps ε fixed instead).
    ``scale_eps=False`` keeps every group's ε at the tuned value, as MuAdamW does.
    Other keywords as :func:`mupsim.transfer`; ``overrides``/``delta_model`` as
    :func:`mupsim.torch.classify` (``plan``: a precomputed one). Each group: ``params``, ``lr``,
    ``weight_decay`` (and ``eps``), plus ``layer``, ``width_mult``, ``lr_scale``, ``optimizer`` and
    ``mupsim_names`` (bookkeeping keys that torch keeps in the optimizer's state_dict).
    ``weight_decay`` is torch's: AdamW's coupled (lr-scaled) λ, the per-step decay lr·λ.

    Args:
        model: the model at the target width.
        base_model: the same architecture at the base width.
        lr: the learning rate tuned at the base width.
        wd: the weight decay tuned at the base width.
        parameterization: as :func:`mupsim.transfer`.
        optimizer: adamw | adam | sgd | muon.
        wd_rule: as :func:`mupsim.transfer`.
        alignment_exponent: as :func:`mupsim.transfer`.
        alignment: as :func:`mupsim.transfer`.
        multipliers: as :func:`mupsim.transfer`.
        depth_rule: as :func:`mupsim.transfer`.
        base_depth: as :func:`mupsim.transfer`.
        depth: as :func:`mupsim.transfer`.
        eps: Adam's ε at the base width.
        scale_eps: scale ε per layer (False: MuAdamW's fixed ε).
        overrides: as :func:`mupsim.torch.classify`.
        plan: a precomputed :class:`mupsim.torch.Plan`.
        delta_model: as :func:`mupsim.torch.classify`.

    Returns:
        One dict per group, for ``torch.optim`` (or :func:`make_optimizers`).

    Raises:
        MupsimError: an invalid rule argument (as :func:`mupsim.transfer`) or a model the
            bridge cannot classify (as :func:`mupsim.torch.classify`).

    Examples:
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> groups = param_groups(mlp(64), mlp(16), lr=1e-3, wd=0.1, wd_rule="constant")
        >>> [(g["layer"], g["lr"], g["weight_decay"]) for g in groups]
        [('embedding', 0.001, 0.1), ('bias', 0.001, 0.0), ('hidden', 0.00025, 0.1),
         ('readout', 0.00025, 0.1), ('fixed', 0.001, 0.0)]
    """
    if not isinstance(scale_eps, bool):
        raise MupsimError(
            f"scale_eps must be True (ε · m^(-e)) or False (ε fixed, as mup's MuAdamW), got {scale_eps!r}"
        )
    rows, plan, last = _settings(
        model,
        base_model,
        **_rule_kwargs(
            lr,
            wd,
            parameterization,
            optimizer,
            wd_rule,
            alignment_exponent,
            alignment,
            multipliers,
            depth_rule,
            base_depth,
            depth,
            overrides,
            plan,
            delta_model,
        ),
    )
    if last is not None and last.branch_multiplier is not None and last.branch_multiplier != 1.0:
        warnings.warn(
            f"depth rule {depth_rule!r}: multiply every residual branch by {last.branch_multiplier:.6g} "
            "((L/L_base)^-alpha_L) in your blocks' forward; the bridge cannot find the branches itself",
            stacklevel=2,
        )
    lr_c = _per_class("lr", lr)
    tensors = dict(model.named_parameters())
    groups, index = [], {}
    for r in rows:
        p = r["info"]
        eps_l = None
        if r["kind"] in ("adam", "adamw") and (eps is not None or r["eps"] is not None):
            # Adam's ε: the value tuned at the base width (torch's default 1e-8 if none given),
            # times the calculator's m^(-e) when it derives an ε exponent
            eps_l = (ADAM_EPS if eps is None else float(eps)) * (
                r["eps"] if r["eps"] is not None and scale_eps else 1.0
            )
        key = (r["kind"], p.layer, r["lr"], r["wd"], eps_l)
        if key not in index:
            g = {
                "params": [],
                "lr": r["lr"],
                "weight_decay": r["wd"],
                "layer": p.layer,
                "width_mult": p.width_mult,
                "optimizer": r["kind"],
                "lr_scale": r["lr"] / lr_c[p.layer] if lr_c[p.layer] > 0 else 0.0,
                "mupsim_names": [],
            }
            if eps_l is not None:
                g["eps"] = eps_l
            index[key] = len(groups)
            groups.append(g)
        g = groups[index[key]]
        g["params"].append(tensors[p.name])
        g["mupsim_names"].append(p.name)
    missing = {}
    for r in rows:
        for mname, f in r["mult"].items():
            mod = model.get_submodule(mname) if mname else model
            if not math.isclose(getattr(mod, _MULT_ATTR, 1.0), f, rel_tol=1e-12):
                missing[mname] = f
    if missing:
        warnings.warn(
            f"this gauge needs forward multipliers {missing} (module → factor) that are not installed; "
            "call mupsim.torch.apply_multipliers(model, base_model, ...) with the same arguments",
            stacklevel=2,
        )
    for w in plan.warnings:
        warnings.warn(w, stacklevel=2)
    return groups


def make_optimizers(groups: list[dict], **defaults) -> list[torch.optim.Optimizer]:
    """One torch optimizer per kind in ``groups`` (a list of one, or [Muon, AdamW] for Muon).

    Args:
        groups: the output of :func:`param_groups`.
        **defaults: go to every constructor (betas, momentum, ...) minus those it does not take.

    Returns:
        The optimizers; step each of them.

    Examples:
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> opts = make_optimizers(param_groups(mlp(64), mlp(16), lr=1e-3), betas=(0.9, 0.95))
        >>> [type(o).__name__ for o in opts]
        ['AdamW']
    """
    ctor = {
        "adamw": torch.optim.AdamW,
        "adam": torch.optim.Adam,
        "sgd": torch.optim.SGD,
        "muon": getattr(torch.optim, "Muon", None),
    }
    kinds = []
    for g in groups:
        if g.get("optimizer") not in ctor:
            raise MupsimError(
                f"group without a known 'optimizer' key ({g.get('optimizer')!r}); build groups with "
                "mupsim.torch.param_groups"
            )
        if g["optimizer"] not in kinds:
            kinds.append(g["optimizer"])
    if defaults.get("adjust_lr_fn") not in (None, "original"):
        raise MupsimError(
            f"adjust_lr_fn={defaults['adjust_lr_fn']!r}: the groups' learning rates follow the "
            "spectral convention of torch.optim.Muon's default ('original'); other conventions "
            "change the width exponents and are not served by the bridge"
        )
    if "muon" in kinds and ctor["muon"] is None:
        raise MupsimError("torch.optim.Muon is not available in this torch version (needs torch >= 2.9)")
    sigs = {k: inspect.signature(ctor[k].__init__).parameters for k in kinds}
    unknown = [a for a in defaults if not any(a in sig for sig in sigs.values())]
    if unknown:
        raise MupsimError(
            f"unknown optimizer keyword(s) {', '.join(map(repr, unknown))} for "
            f"{', '.join(ctor[k].__name__ for k in kinds)}"
        )
    out = []
    for k in sorted(kinds, key=("muon", "adamw", "adam", "sgd").index):
        kw = {a: v for a, v in defaults.items() if a in sigs[k]}
        out.append(ctor[k]([g for g in groups if g["optimizer"] == k], **kw))
    return out


def _hook(module, args):
    f = getattr(module, _MULT_ATTR, 1.0)
    if f == 1.0 or not args:
        return None
    return (args[0] * f,) + tuple(args[1:])


def _out_hook(module, args, output):
    f = getattr(module, _MULT_ATTR, 1.0)
    return output if f == 1.0 else output * f


def apply_multipliers(model: nn.Module, base_model: nn.Module, **rule) -> dict:
    """Install the forward multipliers the chosen gauge needs; returns {module name: factor}.

    Linear/conv modules get a forward pre-hook (input × factor, so biases are not scaled, as
    ``mup``'s MuReadout); ``nn.Embedding`` a forward hook (output × factor). The factor lives in
    the module attribute ``_mupsim_multiplier`` (not in the state_dict); calling again updates it.

    Args:
        model: the model at the target width (hooks are installed on it).
        base_model: the same architecture at the base width.
        **rule: keywords as :func:`param_groups` (lr/wd irrelevant here).

    Returns:
        {module name: factor} for every module whose factor is not 1.

    Examples:
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> apply_multipliers(mlp(64), mlp(16), multipliers=(0, 0, 1))
        {'4': 0.25}
    """
    rows, plan, _ = _settings(model, base_model, **_rule_only(rule))
    applied = {}
    for r in rows:
        for mname, f in r["mult"].items():
            mod = model.get_submodule(mname) if mname else model
            if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
                if not getattr(mod, "_mupsim_out_hook", False):
                    mod.register_forward_hook(_out_hook)
                    mod._mupsim_out_hook = True
            elif isinstance(mod, (nn.Linear, nn.modules.conv._ConvNd)):
                if not getattr(mod, "_mupsim_pre_hook", False):
                    mod.register_forward_pre_hook(_hook)
                    mod._mupsim_pre_hook = True
            else:
                raise MupsimError(
                    f"module {mname!r} ({type(mod).__name__}) needs a forward multiplier {f:g} under "
                    "this gauge, but only Linear/conv/Embedding modules can be hooked: multiply in its "
                    "forward yourself, or choose a gauge without it (multipliers=(0, 0, 0))"
                )
            setattr(mod, _MULT_ATTR, float(f))
            applied[mname] = float(f)
    return applied


_RULE_DEFAULTS = dict(
    parameterization="mup",
    optimizer="adamw",
    wd_rule=None,
    alignment_exponent=None,
    alignment="full",
    multipliers=None,
    depth_rule=None,
    base_depth=None,
    depth=None,
    overrides=None,
    plan=None,
    delta_model=None,
)


def _rms(t) -> float:
    return float(t.detach().float().pow(2).mean().sqrt()) if t.numel() else 0.0


def _rule_only(rule: dict) -> dict:
    """The keywords of param_groups that decide exponents (lr/wd/eps/scale_eps ignored); unknown ones refused."""
    bad = sorted(set(rule) - set(_RULE_DEFAULTS) - {"lr", "wd", "eps", "scale_eps"})
    if bad:
        raise MupsimError(f"unknown keyword(s) {bad}; allowed: {', '.join(_RULE_DEFAULTS)}")
    out = {k: rule.get(k, d) for k, d in _RULE_DEFAULTS.items()}
    return dict(out, lr=1.0, wd=0.0 if out["wd_rule"] is None else 1.0)


@torch.no_grad()
def rescale_init_(model: nn.Module, base_model: nn.Module, **rule) -> dict:
    """Rescale every scaling parameter in place to RMS = RMS(base parameter) · m^(-b).

    The base model's initialisation (as you built it, e.g. PyTorch's defaults) is the one you
    tuned; each parameter keeps its distribution shape and gets the calculator's init exponent b
    (RMS, not std, so that a gain initialised to ones keeps its ones; for zero-mean inits the
    two agree). Zero-initialised parameters stay zero; ``fixed`` ones are left alone.

    Args:
        model: the model at the target width (changed in place).
        base_model: the same architecture at the base width, as initialised for tuning.
        **rule: keywords as :func:`param_groups`.

    Returns:
        {name: (RMS before, RMS after)} of the rescaled parameters.

    Examples:
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> sorted(rescale_init_(mlp(64), mlp(16)))
        ['0.bias', '0.weight', '2.bias', '2.weight', '4.weight']
    """
    rows, plan, _ = _settings(model, base_model, **_rule_only(rule))
    tensors = dict(model.named_parameters())
    base = dict(base_model.named_parameters())
    out = {}
    for r in rows:
        p = r["info"]
        if p.layer == "fixed":
            continue
        b = base[p.name]
        if b.device.type == "meta":
            raise MupsimError(
                f"rescale_init_ measures the base model's init std, but {p.name!r} of base_model is on "
                "the meta device; build the base model on a real device (it is small)"
            )
        t = tensors[p.name]
        s_base = _rms(b)
        s_now = _rms(t)
        target = s_base * r["init"]
        if s_now > 0 and s_base > 0:
            t.mul_(target / s_now)
        elif s_base == 0:
            t.zero_()
        out[p.name] = (s_now, _rms(t))
    return out


def save_settings(path, model: nn.Module, groups: list[dict], width: int | None = None, **extra) -> None:
    """Write {width, params: {name: {layer, lr, wd}}} as JSON (atomically) beside a checkpoint.

    ``lr`` is the group's peak lr (``initial_lr`` once a torch scheduler has annealed ``lr``).
    Another name of a tied tensor (``lm_head.weight`` of a tied embedding) gets the same entry plus
    ``"tied_to": <first name>``, so ``mupsim diagnose`` shows the tensor once whichever names a
    checkpoint keeps. ``mupsim diagnose`` reads ``<checkpoint>.mupsim.json`` to report σ_max/√(η_l/λ_l).

    Args:
        path: the JSON file to write (e.g. ``<checkpoint stem>.mupsim.json``).
        model: the model the groups were built for.
        groups: its optimizer's parameter groups.
        width: the model's width, recorded for ``diagnose``.
        **extra: further top-level keys.

    Examples:
        >>> import json
        >>> from pathlib import Path
        >>> import torch.nn as nn
        >>> def mlp(width):
        ...     return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width),
        ...                          nn.ReLU(), nn.Linear(width, 2))
        >>> model = mlp(64)
        >>> save_settings("w64.mupsim.json", model, param_groups(model, mlp(16), lr=1e-3), width=64)
        >>> json.loads(Path("w64.mupsim.json").read_text())["params"]["2.weight"]
        {'layer': 'hidden', 'lr': 0.00025, 'wd': 0.0, 'width_mult': 4.0}
    """
    tensors = {id(p): n for n, p in model.named_parameters()}
    params = {}
    for g in groups:
        for p in g["params"]:
            # a torch scheduler keeps the group's peak lr in "initial_lr" and anneals "lr"
            params[tensors[id(p)]] = {
                "layer": g["layer"],
                "lr": g.get("initial_lr", g["lr"]),
                "wd": g["weight_decay"],
                "width_mult": g["width_mult"],
            }
    for n, p in model.named_parameters(remove_duplicate=False):
        first = tensors.get(id(p))
        if n != first and first in params:
            params[n] = dict(params[first], tied_to=first)
    doc = {"mupsim_version": mupsim.__version__, "width": width, "params": params, **extra}
    text = json.dumps(doc, indent=1, allow_nan=False)
    _atomic_write(Path(os.path.abspath(os.fspath(path))), lambda f: f.write(text.encode("utf-8")))
