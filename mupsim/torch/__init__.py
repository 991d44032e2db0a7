"""PyTorch bridge: the calculator's per-layer rules applied to a ``torch.nn.Module``.

Optional extra (``pip install 'mupsim[torch]'``); ``import mupsim`` never imports torch, and the
checkpoint reader and spectral diagnostic (:mod:`mupsim.torch.checkpoints`,
:mod:`mupsim.torch.diagnose`) need torch only for ``.pt`` files.

* :mod:`mupsim.torch.shapes`      which dimensions of each parameter grow with width; the layer
                                  class of every parameter (embedding, hidden, readout, bias,
                                  norm_gain, fixed); known weight layouts (torch.nn, HF Conv1D)
* :mod:`mupsim.torch.attention`   attention logit scale: found on torch/HF/timm modules, set to μP's
* :mod:`mupsim.torch.groups`      optimizer parameter groups (AdamW, Adam, SGD, Muon) with the
                                  calculator's lr / wd (/ ε), ``rescale_init_``, forward multipliers
* :mod:`mupsim.torch.coordinates` coord_check: per-layer activation RMS across widths after a few steps
* :mod:`mupsim.torch.checkpoints` lazy readers for ``.safetensors`` (no torch) and ``.pt``
* :mod:`mupsim.torch.diagnose`    σ_max, RMS, stable rank per matrix; α fitted across widths
"""

import importlib

# Lazy exports: importing a torch-free submodule (checkpoints, diagnose) must not import torch.
_EXPORTS = {
    "LAYER_KINDS": "shapes",
    "LAYOUTS": "shapes",
    "ParamInfo": "shapes",
    "Plan": "shapes",
    "classify": "shapes",
    "attention_logit_scale": "attention",
    "find_attention": "attention",
    "set_attention_scale": "attention",
    "apply_multipliers": "groups",
    "make_optimizers": "groups",
    "param_groups": "groups",
    "rescale_init_": "groups",
    "save_settings": "groups",
    "CoordCheck": "coordinates",
    "coord_check": "coordinates",
    "transfer_check": "transfer",
}
__all__ = list(_EXPORTS) + ["Diagnosis", "diagnose"]

# torch-free, imported eagerly so that the name ``diagnose`` is the function, not the submodule
from mupsim.torch.diagnose import Diagnosis, diagnose  # noqa: E402


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"mupsim.torch.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'mupsim.torch' has no attribute {name!r}")
