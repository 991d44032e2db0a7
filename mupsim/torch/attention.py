"""Attention logit scale: found on torch, Hugging Face and timm attention modules, and set to μP's.

Standard attention multiplies q·k by 1/√d_head; μP wants ∝ 1/d_head once d_head grows (after
training q and k are correlated, so q·k grows like d_head). The μP scale at head dimension d,
for a scale s_base tuned at the base head dimension d_base, is s_base·d_base/d (equal to
:func:`attention_logit_scale` when s_base = 1/√d_base); growing the width by adding heads at a
fixed d_head needs nothing.

A module is recognised as attention when it has an integer head dimension (``head_dim``,
``attention_head_size``, ``d_head`` or ``head_size``) and a float logit scale (``scaling``:
Hugging Face's GPT-2, Llama, BERT, ... pass it to every attention backend; ``scale``: timm's
``Attention``), or is ``nn.MultiheadAttention`` (whose scale cannot be set: it is computed
inside ``F.multi_head_attention_forward``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from torch import nn

from mupsim.errors import MupsimError

_HEAD_DIM_ATTRS = ("head_dim", "attention_head_size", "d_head", "head_size")
_SCALE_ATTRS = ("scaling", "scale")


def attention_logit_scale(d_head: int, base_d_head: int) -> float:
    """Softmax scale for q·k logits: √base_d_head / d_head.

    Equal to the usual 1/√d_head at the base width and ∝ 1/d_head beyond it (μP, TP5 §J): after
    training, q and k are correlated, so q·k grows like d_head, not √d_head. Only the head
    dimension matters: growing the width by adding heads at fixed d_head leaves every logit's
    sum the same length, so the scale stays 1/√d_head (this function then returns exactly that).

    Args:
        d_head: the head dimension of the model.
        base_d_head: the head dimension at the base width.

    Returns:
        The scale multiplying q·k.

    Examples:
        >>> attention_logit_scale(64, 16), attention_logit_scale(64, 64)
        (0.0625, 0.125)
    """
    for nm, v in (("d_head", d_head), ("base_d_head", base_d_head)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise MupsimError(f"{nm} must be a positive integer, got {v!r}")
    return math.sqrt(base_d_head) / d_head


@dataclass(frozen=True)
class AttentionScale:
    """One attention module whose head dimension grows: its scale now and μP's.

    Attributes:
        module: the module's name.
        module_type: its class name.
        base_d_head: the head dimension at the base width.
        d_head: the head dimension in the model.
        attr: the attribute holding the scale, or None when it cannot be set.
        scale: the module's scale now (None: not readable).
        mup_scale: base scale · base_d_head / d_head (None: not settable).
        reason: why it cannot be set ("" when it can).
    """

    module: str
    module_type: str
    base_d_head: int
    d_head: int
    attr: str | None  # the attribute holding the scale, or None when it cannot be set
    scale: float | None  # the module's scale now (None: not readable)
    mup_scale: float | None  # base scale · base_d_head / d_head
    reason: str = ""  # why it cannot be set

    @property
    def is_mup(self) -> bool:
        return (
            self.scale is not None
            and self.mup_scale is not None
            and math.isclose(self.scale, self.mup_scale, rel_tol=1e-9)
        )


def _int_attr(mod, names):
    for a in names:
        v = getattr(mod, a, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _float_attr(mod):
    for a in _SCALE_ATTRS:
        v = getattr(mod, a, None)
        if isinstance(v, (float, int)) and not isinstance(v, bool) and math.isfinite(v):
            return a, float(v)
    return None, None


def find_attention(model: nn.Module, base_model: nn.Module) -> list[AttentionScale]:
    """Every attention module of ``model`` whose head dimension differs from ``base_model``'s.

    Args:
        model: the model at the target width.
        base_model: the same architecture at the base width.

    Returns:
        One :class:`AttentionScale` per such module.

    Examples:
        >>> import torch.nn as nn
        >>> class Attention(nn.Module):  # any module with a head-dimension and a scale attribute
        ...     def __init__(self, d_head):
        ...         super().__init__()
        ...         self.head_dim, self.scale = d_head, d_head**-0.5
        >>> [(a.attr, a.scale, a.mup_scale) for a in find_attention(Attention(64), Attention(16))]
        [('scale', 0.125, 0.0625)]
    """
    out = []
    for name, mod in model.named_modules():
        try:
            base = base_model.get_submodule(name) if name else base_model
        except AttributeError:
            continue
        kind = type(mod).__name__
        if isinstance(mod, nn.MultiheadAttention):
            d, d0 = mod.head_dim, base.head_dim
            if d != d0:
                out.append(
                    AttentionScale(
                        name,
                        kind,
                        d0,
                        d,
                        None,
                        d**-0.5,
                        None,
                        "nn.MultiheadAttention computes 1/sqrt(head_dim) inside its forward; "
                        "grow the number of heads instead, or use a module with a settable scale",
                    )
                )
            continue
        d, d0 = _int_attr(mod, _HEAD_DIM_ATTRS), _int_attr(base, _HEAD_DIM_ATTRS)
        if d is None or d0 is None or d == d0:
            continue
        attr, s = _float_attr(mod)
        battr, s0 = _float_attr(base)
        if attr is not None and battr == attr and s0 > 0:
            out.append(AttentionScale(name, kind, d0, d, attr, s, s0 * d0 / d))
        elif hasattr(mod, "scale_attn_weights"):
            out.append(
                AttentionScale(
                    name,
                    kind,
                    d0,
                    d,
                    None,
                    d**-0.5 if mod.scale_attn_weights else 1.0,
                    None,
                    "this transformers version divides by sqrt(head_dim) inside its forward "
                    "(no 'scaling' attribute); upgrade transformers or patch the module",
                )
            )
    return out


def attention_warnings(model: nn.Module, base_model: nn.Module) -> list[str]:
    """One line per attention module whose logit scale is not μP's while d_head grows.

    Args:
        model: the model at the target width.
        base_model: the same architecture at the base width.

    Returns:
        The warning lines (empty when every growing module has μP's scale).
    """
    lines = []
    for a in find_attention(model, base_model):
        if a.is_mup:
            continue
        now = "unknown" if a.scale is None else f"{a.scale:.6g}"
        if a.attr is not None:
            lines.append(
                f"{a.module} ({a.module_type}): attention logit scale {a.attr} = {now} while head_dim grows "
                f"{a.base_d_head} → {a.d_head}; μP wants {a.mup_scale:.6g} (∝ 1/head_dim): call "
                "mupsim.torch.set_attention_scale(model, base_model)"
            )
        else:
            lines.append(
                f"{a.module} ({a.module_type}): attention logit scale {now} (1/sqrt(head_dim)) while "
                f"head_dim grows {a.base_d_head} → {a.d_head}; μP wants ∝ 1/head_dim (see "
                f"mupsim.torch.attention_logit_scale), but it cannot be set: {a.reason}"
            )
    return lines


def set_attention_scale(model: nn.Module, base_model: nn.Module) -> dict:
    """Set μP's logit scale (base scale · base_d_head / d_head) on every attention module of ``model``
    whose head dimension grows; returns {module name: scale}. Idempotent.

    A timm-style module with ``fused_attn = True`` gets ``fused_attn = False`` as well (timm's fused
    path has called ``F.scaled_dot_product_attention`` without ``scale``, ignoring the attribute).
    Modules whose scale cannot be set are named in one UserWarning.

    Args:
        model: the model at the target width (changed in place).
        base_model: the same architecture at the base width.

    Returns:
        {module name: the scale set}.

    Examples:
        >>> import torch.nn as nn
        >>> class Attention(nn.Module):  # any module with a head-dimension and a scale attribute
        ...     def __init__(self, d_head):
        ...         super().__init__()
        ...         self.head_dim, self.scale = d_head, d_head**-0.5
        >>> model = Attention(64)
        >>> set_attention_scale(model, Attention(16)), model.scale
        ({'': 0.0625}, 0.0625)
    """
    done, cannot = {}, []
    for a in find_attention(model, base_model):
        if a.attr is None:
            cannot.append(f"{a.module} ({a.module_type}): {a.reason}")
            continue
        mod = model.get_submodule(a.module) if a.module else model
        setattr(mod, a.attr, a.mup_scale)
        if a.attr == "scale" and getattr(mod, "fused_attn", False) is True:
            mod.fused_attn = False
        done[a.module] = a.mup_scale
    if cannot:
        warnings.warn("attention logit scale not set for: " + "; ".join(cannot), stacklevel=2)
    return done
