"""Which configs the ensemble backend runs, and which of them can share one stack.

No torch import here: the sweep can ask :func:`unsupported_reason` and :func:`group_key`
without loading PyTorch.

* **Stacked fields** (:data:`SHAPE_FIELDS`): equal in every member of a group — they fix the
  tensor shapes, the network's structure, the optimizer's code path and the log schedule.
* **Per-run fields** (:data:`PER_RUN_FIELDS`): may differ between members (learning rate,
  weight decay, seed, rule, schedule, β's, ...); they become per-member tensors.
* The teacher's width at the run's width (:meth:`SimConfig.teacher_dims`, which grows with
  ``teacher_width_exponent``) fixes the teacher's shape, so it is part of the group key too.
* Any other :class:`SimConfig` field — one added later, e.g. a new task family — is refused
  unless it has its default value, so a feature the ensemble does not implement can never be
  silently ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util

from mupsim.sim.config import SimConfig

SHAPE_FIELDS = (
    "model",
    "width",
    "input_dim",
    "output_dim",
    "depth",
    "ffn_ratio",
    "activation",
    "norm",
    "norm_position",
    "norm_gain",
    "bias",
    "task",
    "context",
    "inputs",
    "teacher_width",
    "n_train",
    "n_test",
    "batch_size",
    "steps",
    "optimizer",
    "dtype",
    "n_logs",
    "rank_metrics",
)
PER_RUN_FIELDS = (
    "base_width",
    "branch_multiplier",
    "teacher_rank",
    "label_noise",
    "lr",
    "wd",
    "wd_mode",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "schedule",
    "warmup_steps",
    "decay_fraction",
    "parameterization",
    "alignment",
    "multipliers",
    "wd_rule",
    "alignment_exponent",
    "depth_rule",
    "base_depth",
    "global_lr",
    "seed",
    "divergence_bound",
    "eps_rule",
    "teacher_decay",
    "input_spectrum",
    "io_wd_rule",
    "zipf_exponent",
    "teacher_width_exponent",
    "logit_scale",
)
SUPPORTED_FIELDS = frozenset(SHAPE_FIELDS + PER_RUN_FIELDS)


@functools.lru_cache(maxsize=1)
def _torch_installed() -> bool:
    """Whether torch can be imported (looked up once per process: a sweep asks per config)."""
    return importlib.util.find_spec("torch") is not None


def unsupported_reason(config: SimConfig) -> str | None:
    """Why the ensemble backend cannot run ``config`` (one sentence), or None if it can."""
    if not isinstance(config, SimConfig):
        return f"the ensemble backend needs a SimConfig; got {type(config).__name__}"
    if not _torch_installed():
        return "the ensemble backend needs PyTorch (pip install -e '.[torch]')"
    for f in dataclasses.fields(config):
        if f.name in SUPPORTED_FIELDS:
            continue
        v = getattr(config, f.name)
        if v != f.default:
            return (
                f"the ensemble backend does not implement SimConfig field {f.name!r} "
                f"(value {v!r}, default {f.default!r}); run it with the numba loop"
            )
    return None


def group_key(config: SimConfig) -> tuple | None:
    """Configs with equal keys can be trained in one stack; None if the ensemble cannot run
    ``config`` at all (see :func:`unsupported_reason`)."""
    if unsupported_reason(config) is not None:
        return None
    return tuple((name, getattr(config, name)) for name in SHAPE_FIELDS) + (
        ("teacher_width_at_width", config.teacher_dims()[0]),
    )
