"""Simulation configuration: one frozen, validated record per training run.

Conventions (the calculator's are in ``mupsim/calculator.py`` and the README's Calculator section):

* ``width`` is n, ``base_width`` is n0 (the proxy width the calculator scales from);
  ``input_dim`` is k (fixed), ``output_dim`` is the readout dimension (fixed).
* ``lr`` and ``wd`` are the *base* (proxy-width) learning rate eta and weight decay lambda;
  the per-layer values at ``width`` come from ``mupsim.transfer`` with
  ``parameterization``, ``alignment``, ``multipliers``, ``wd_rule`` and ``alignment_exponent``.
* ``wd_mode="coupled"``: w <- w - eta*(u + lambda*w) (PyTorch AdamW);
  ``"independent"``: w <- w - eta*u - lambda*w.
* ``alignment`` is "full", "none" or an exponent in [0.5, 1] (stored as a float).
* ``eps`` is Adam's ε at the base width. ``eps_rule=None`` (default): that same ε for every
  layer at every width; ``"derived"``: the calculator's per-layer ε, eps·m^(-e_l) (opt-in;
  left out of ``to_dict()``/``key()`` when None, so existing result keys are unchanged).
* ``optimizer="muon"``: Muon on the hidden matrices, AdamW elsewhere; ``"muon_all"``: Muon on
  every matrix (embedding, hidden, readout), AdamW on vectors. ``muon_convention`` None
  (= "spectral"): the lr is the step's spectral norm; ``"rms"``: Moonlight's convention, the
  orthogonalised update is multiplied by 0.2·√max(fan_in, fan_out) (RMS ≈ 0.2·lr, like AdamW's);
  left out of ``to_dict()``/``key()`` when None.
* ``io_wd_rule`` (default None: ``wd_rule``'s values everywhere): the weight-decay rule of the
  embedding and readout matrices only, overriding ``wd_rule``'s for those two layer classes
  (e.g. ``wd_rule="fan2025"``, which leaves them undecayed, with ``io_wd_rule="constant"``).
  One of the wd rules (``alignment`` needs ``alignment_exponent``); needs ``wd > 0`` and a
  ``wd_rule``. The per-layer values come from one ``mupsim.transfer`` call with a per-layer
  rule (:func:`mupsim.sim.settings.settings_for`). Left out of ``to_dict()``/``key()`` when None.
* ``settings`` (not a field): the calculator's per-layer Settings, computed once on construction.
* ``rank_metrics`` (default True): compute the spectrum-based diagnostics (``stable_rank``,
  ``effective_rank``, ``sv1``..``sv4``: all singular values of every matrix at every logged
  step, a large share of a run with many logs at n ≥ 512). False leaves them NaN (arrays keep
  their shape) and changes nothing else: every other logged number is bit-identical. Left out
  of ``to_dict()``/``key()`` when True, so existing result keys are unchanged.
* ``steps`` counts optimizer steps; ``warmup_steps`` and ``decay_fraction`` (fraction of
  ``steps`` spent decaying, for the "wsd" schedule) are in the same units.

Task families (data: :mod:`mupsim.sim.data`; defaults reproduce the original isotropic task):

* ``inputs="gaussian"``: x ~ N(0, Σ) in k = ``input_dim`` dimensions, Σ diagonal with
  eigenvalues ∝ i^(−s), i = 1..k, s = ``input_spectrum`` ≥ 0, normalised to mean 1 (trace k);
  s = 0 is isotropic.
* ``inputs="tokens"``: x is one-hot over a vocabulary of V = ``input_dim`` ≥ 2 tokens drawn
  with P(token i) ∝ i^(−z), i = 1..V, z = ``zipf_exponent`` ≥ 0 (z = 0 uniform); the embedding
  is then a lookup (its init has no 1/√k factor). ``input_spectrum`` must stay 0.
* Teacher f(x) = A2·relu(A1 x) of width ``teacher_width``·(width/base_width)^ρ, ρ =
  ``teacher_width_exponent`` ≥ 0 (ρ = 0: fixed teacher; rounded, at least 1); ``teacher_rank``
  (None = full) scales by the same factor. ``teacher_decay`` q: None keeps A1's Gaussian
  spectrum; a number q ≥ 0 replaces A1's singular values by i^(−q) (same Frobenius norm).
* ``output_dim``: regression targets / classes (any size ≥ 1, e.g. 128; classification ≥ 2).
* ``task="next_token"``: next-token prediction over a vocabulary of V = ``output_dim`` ≥ 2
  tokens from a context of c = ``context`` ≥ 2 previous tokens (i.i.d. Zipf(z) over V). The
  input is the concatenation of c one-hots, so ``input_dim`` must equal c·V (validated, not
  derived: ``input_dim`` stays the one field every size computation reads) and ``inputs`` must
  be "tokens". The teacher's logits are β·A2·relu(A1 x), β = ``logit_scale`` > 0 (None: the
  default :data:`DEFAULT_LOGIT_SCALE`, filled in on construction); the target is a token
  sampled from their softmax; softmax cross-entropy loss. Needs ``teacher_width_exponent`` 0
  and ``label_noise`` 0. ``context`` and ``logit_scale`` are refused with other tasks and left
  out of ``to_dict()``/``key()`` there (None), so existing result keys are unchanged.

All validation happens in ``__post_init__`` and raises :class:`mupsim.errors.MupsimError`
naming the field, the bad value and what is allowed, before anything is compiled or run:
field ranges, cross-field constraints, the size limits of :mod:`mupsim.sim.limits` (seeds
0..2^63−1, steps, logs, estimated memory), and whatever the calculator refuses for the run's
rule settings (e.g. ``wd > 0`` without a ``wd_rule``), so a config that constructs also runs.
Values are normalised on construction (numpy scalars -> Python, choice strings to their
canonical spelling, ``multipliers`` to a tuple of floats, -0.0 to 0.0) so that equal configs
have equal ``to_dict()`` and ``key()``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mupsim.errors import MupsimError, choice, rational, show
from mupsim.theory import wd_rules

MODELS = ("normalized", "linear")
ACTIVATIONS = ("relu", "gelu")
NORMS = ("rms", "layer", "none")
NORM_POSITIONS = ("pre", "post", "both")
TASKS = ("regression", "classification", "next_token")
OPTIMIZERS = ("sgd", "adam", "adamw", "lion", "signsgd", "muon", "muon_all")
MUON_CONVENTIONS = ("spectral", "rms")  # None = "spectral"
WD_MODES = ("coupled", "independent")
SCHEDULES = ("constant", "cosine", "wsd")
PARAMETERIZATIONS = ("sp", "ntk", "mup", "mfp")
ALIGNMENTS = ("full", "none")
WD_RULES = wd_rules.SIM_WD_RULES  # or None (the simulator's rules, from the registry)
# fields added later, left out of to_dict()/key() at their default (existing result keys stay valid)
_OMIT_IF_DEFAULT = {
    "eps_rule": None,
    "muon_convention": None,
    "io_wd_rule": None,
    "rank_metrics": True,
    "context": None,
    "logit_scale": None,
}
DEFAULT_LOGIT_SCALE = 3.2
"""β of ``task="next_token"`` when ``logit_scale`` is not given: the teacher's mean conditional
entropy (:func:`mupsim.sim.data.teacher_entropy`) is then about half of log V, so the next
token is far from uniform but not determined by the context.

Measured 2026-12-02 (``python -m benchmarks.next_token --entropy``, benchmarks/NEXT_TOKEN.json):
V = 4,096, c = 2, teacher width 64, z = 1, the 1,024 held-out contexts of seeds 0, 1, 2; mean
entropy in nats (fraction of log V = 8.318):

* β = 1.0: H = 7.817 (0.940 log V)
* β = 2.0: H = 6.364 (0.765 log V)
* β = 2.5: H = 5.426 (0.652 log V)
* β = 3.0: H = 4.523 (0.544 log V)
* β = 3.2: H = 4.195 (0.504 log V)
* β = 3.5: H = 3.746 (0.450 log V)
* β = 4.0: H = 3.119 (0.375 log V)
* β = 5.0: H = 2.247 (0.270 log V)

(per seed at β = 3.2: 4.299, 4.272, 4.013). Gaussian logits of variance σ² over V classes give
H ≈ log V − β²σ²/2 for β²σ² ≪ 2 log V; here σ² ≈ 1 fluctuates with the context.
"""
DEPTH_RULES = ("depth_mup", "completep")  # or None
DTYPES = ("float32", "float64")
INPUTS = ("gaussian", "tokens")

# field -> allowed choices (for string-valued fields)
_CHOICES = {
    "model": ("model", MODELS),
    "activation": ("activation", ACTIVATIONS),
    "norm": ("norm", NORMS),
    "norm_position": ("norm_position", NORM_POSITIONS),
    "task": ("task", TASKS),
    "inputs": ("inputs", INPUTS),
    "optimizer": ("optimizer", OPTIMIZERS),
    "wd_mode": ("wd_mode", WD_MODES),
    "schedule": ("schedule", SCHEDULES),
    "parameterization": ("parameterization", PARAMETERIZATIONS),
    "dtype": ("dtype", DTYPES),
}

# integer fields that must be >= 1
_POSITIVE_INTS = (
    "width",
    "base_width",
    "input_dim",
    "output_dim",
    "depth",
    "ffn_ratio",
    "teacher_width",
    "n_test",
    "batch_size",
    "steps",
)


@dataclass(frozen=True)
class SimConfig:
    """One simulation run: a frozen, validated record of every setting.

    Every field has a default; the module docstring gives each field's units and conventions
    (``lr``/``wd`` are the base-width values, ``wd_mode="coupled"`` is PyTorch AdamW's
    w ← w − η(u + λw)). The calculator's per-layer values are computed once on construction
    (:attr:`settings`).

    Raises:
        MupsimError: on construction, naming the field, the bad value and what is allowed
            (field ranges, cross-field constraints, size limits, whatever the calculator
            refuses), so a config that constructs also runs.

    Examples:
        >>> from mupsim.sim import SimConfig
        >>> c = SimConfig(width=64, base_width=16, lr=1e-2, wd=0.1, wd_rule="fan2025", steps=20)
        >>> c.settings.layers["hidden"].lr, c.settings.layers["hidden"].wd
        (0.0025, 0.2)
        >>> c.replace(width=16).settings.layers["hidden"].lr
        0.01
    """

    # architecture
    model: str = "normalized"
    width: int = 128
    base_width: int = 64
    input_dim: int = 16
    output_dim: int = 1
    depth: int = 1
    ffn_ratio: int = 1
    activation: str = "relu"
    norm: str = "rms"
    norm_position: str = "both"
    norm_gain: bool = False
    bias: bool = False
    branch_multiplier: float = 1.0
    # data
    task: str = "regression"
    inputs: str = "gaussian"  # gaussian | tokens (one-hot, Zipfian, V = input_dim)
    input_spectrum: float = 0.0  # s: input covariance eigenvalues ∝ i^(-s) (gaussian)
    zipf_exponent: float = 1.0  # z: P(token i) ∝ i^(-z) (tokens)
    context: int | None = None  # c: previous tokens of task="next_token" (input_dim = c·output_dim)
    logit_scale: float | None = None  # β: teacher logits β·f(x) of task="next_token" (None: default)
    teacher_width: int = 64
    teacher_rank: int | None = None
    teacher_width_exponent: float = 0.0  # ρ: teacher width (and rank) ∝ (width/base_width)^ρ
    teacher_decay: float | None = None  # q: teacher A1 singular values ∝ i^(-q); None = Gaussian
    label_noise: float = 0.0
    n_train: int | None = None
    n_test: int = 1024
    batch_size: int = 128
    steps: int = 2000
    # optimizer
    optimizer: str = "adamw"
    lr: float = 1e-3
    wd: float = 0.0
    wd_mode: str = "coupled"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    eps_rule: str | None = (
        None  # None: eps for every layer at every width; "derived": the calculator's per-layer eps
    )
    muon_convention: str | None = (
        None  # Muon's lr: None/"spectral" (step's spectral norm) | "rms" (Moonlight)
    )
    schedule: str = "constant"
    warmup_steps: int = 0
    decay_fraction: float = 0.2
    # scaling rule (passed to the calculator)
    parameterization: str = "mup"
    alignment: str | float = "full"
    multipliers: tuple | None = None
    wd_rule: str | None = None
    io_wd_rule: str | None = (
        None  # wd rule of embedding + readout only (None: wd_rule's); needs wd > 0 and wd_rule
    )
    alignment_exponent: float | None = None
    depth_rule: str | None = None  # None | depth_mup | completep (sets branch multiplier and block lr)
    base_depth: int = 1  # depth of the proxy the lr was tuned at (with depth_rule)
    global_lr: bool = False  # baseline: one lr for every layer at every width (not derived)
    # numerics / logging
    dtype: str = "float64"
    seed: int = 0
    n_logs: int = 40
    divergence_bound: float = 1e6
    rank_metrics: bool = True  # False: stable_rank, effective_rank, sv1..sv4 not computed (NaN)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = lambda name, v: object.__setattr__(self, name, v)  # noqa: E731

        for name, (kind, allowed) in _CHOICES.items():
            set_(name, choice(kind, getattr(self, name), allowed))

        set_("alignment", _alignment(self.alignment))

        set_("wd_rule", _wd_rule("wd_rule", self.wd_rule))
        set_("io_wd_rule", _wd_rule("io_wd_rule", self.io_wd_rule))

        for name in _POSITIVE_INTS:
            set_(name, _int(name, getattr(self, name), minimum=1))
        set_("warmup_steps", _int("warmup_steps", self.warmup_steps, minimum=0))
        set_("seed", _int("seed", self.seed, minimum=0))
        set_("n_logs", _int("n_logs", self.n_logs, minimum=2))
        if self.teacher_rank is not None:
            set_("teacher_rank", _int("teacher_rank", self.teacher_rank, minimum=1))
        if self.n_train is not None:
            set_("n_train", _int("n_train", self.n_train, minimum=1))

        for name in ("norm_gain", "bias", "global_lr", "rank_metrics"):
            set_(name, _bool(name, getattr(self, name)))

        set_("lr", _float("lr", self.lr, lo=0.0))
        set_("wd", _float("wd", self.wd, lo=0.0))
        set_("label_noise", _float("label_noise", self.label_noise, lo=0.0))
        set_("input_spectrum", _float("input_spectrum", self.input_spectrum, lo=0.0))
        set_("zipf_exponent", _float("zipf_exponent", self.zipf_exponent, lo=0.0))
        set_("teacher_width_exponent", _float("teacher_width_exponent", self.teacher_width_exponent, lo=0.0))
        if self.teacher_decay is not None:
            set_("teacher_decay", _float("teacher_decay", self.teacher_decay, lo=0.0))
        set_("eps", _float("eps", self.eps, lo=0.0, lo_open=True))
        if self.eps_rule is not None:
            set_("eps_rule", choice("eps rule", self.eps_rule, ("derived",)))
            from mupsim.theory.epsilon import ADAM_FAMILY

            if self.optimizer not in ADAM_FAMILY:
                raise MupsimError(
                    f"eps_rule={self.eps_rule!r} scales Adam's epsilon; optimizer {self.optimizer!r} "
                    f"has none; allowed: {', '.join(ADAM_FAMILY)} (or eps_rule=None)"
                )
        if self.muon_convention is not None:
            mc = choice("muon convention", self.muon_convention, MUON_CONVENTIONS)
            fixed = max(self.input_dim, self.output_dim)
            if mc == "rms" and self.optimizer == "muon_all" and fixed > min(self.width, self.base_width):
                raise MupsimError(
                    f"muon_convention='rms' with muon_all assumes the larger side of the embedding and readout "
                    f"is the width, but max(input_dim, output_dim) = {fixed} exceeds the width "
                    f"(min(width, base_width) = {min(self.width, self.base_width)}): the calculator's rates would "
                    "be wrong; allowed: input_dim and output_dim <= the widths, or muon_convention=None"
                )
            set_("muon_convention", None if mc == "spectral" else mc)  # one spelling per config
            if mc != "spectral" and self.optimizer not in ("muon", "muon_all"):
                raise MupsimError(
                    f"muon_convention={mc!r} applies to Muon only (optimizer {self.optimizer!r}); "
                    "allowed: optimizer muon or muon_all, or muon_convention=None"
                )
        set_("branch_multiplier", _float("branch_multiplier", self.branch_multiplier, lo=0.0, lo_open=True))
        set_("divergence_bound", _float("divergence_bound", self.divergence_bound, lo=0.0, lo_open=True))
        for name in ("momentum", "beta1", "beta2"):
            set_(name, _float(name, getattr(self, name), lo=0.0, hi=1.0, hi_open=True))
        set_("decay_fraction", _float("decay_fraction", self.decay_fraction, lo=0.0, hi=1.0))
        if self.alignment_exponent is not None:
            set_("alignment_exponent", _float("alignment_exponent", self.alignment_exponent, lo=0.5, hi=1.0))

        if self.multipliers is not None:
            m = self.multipliers
            ordered = isinstance(m, (list, tuple)) or (hasattr(m, "ndim") and m.ndim == 1)
            if not ordered or len(m) != 3:  # a set or dict has no (input, hidden, output) order
                raise MupsimError(
                    f"multipliers must be None or 3 numbers (input, hidden, output) in a list or tuple; "
                    f"got {show(m)}"
                )
            # exponents a of n^-a (any finite number, 0 and negatives included)
            set_("multipliers", tuple(_float(f"multipliers[{i}]", x) for i, x in enumerate(m)))

        set_("base_depth", _int("base_depth", self.base_depth, minimum=1))
        if self.depth_rule is not None:
            v = self.depth_rule
            if isinstance(v, str) and v.strip().lower() == "none":
                set_("depth_rule", None)
            else:
                set_("depth_rule", choice("depth_rule", v, DEPTH_RULES))
        if self.depth_rule is not None:
            if self.model != "normalized":
                raise MupsimError(
                    f"depth_rule={self.depth_rule!r} scales residual branches; model={self.model!r} has none. "
                    "allowed: model='normalized', or depth_rule=None"
                )
            if self.branch_multiplier != 1.0:
                raise MupsimError(
                    f"branch_multiplier={self.branch_multiplier} conflicts with depth_rule={self.depth_rule!r}, "
                    "which sets it to depth^-alpha_L; allowed: leave branch_multiplier at 1.0 or depth_rule=None"
                )

        # cross-field constraints
        if self.io_wd_rule is not None and (self.wd <= 0.0 or self.wd_rule is None):
            raise MupsimError(
                f"io_wd_rule={self.io_wd_rule!r} overrides the weight-decay rule of the embedding and "
                f"readout, but this run has wd={self.wd} and wd_rule={self.wd_rule!r}; allowed: "
                f"io_wd_rule=None, or wd > 0 with a wd_rule ({', '.join(WD_RULES)})"
            )
        if self.teacher_rank is not None and self.teacher_rank > self.teacher_width:
            raise MupsimError(
                f"teacher_rank={self.teacher_rank} exceeds teacher_width={self.teacher_width}; "
                f"allowed: None (full rank) or 1..teacher_width"
            )
        if self.n_train is not None and self.n_train < self.batch_size:
            raise MupsimError(
                f"n_train={self.n_train} is smaller than batch_size={self.batch_size}; "
                f"allowed: None (online fresh batches) or n_train >= batch_size"
            )
        if self.warmup_steps > self.steps:
            raise MupsimError(
                f"warmup_steps={self.warmup_steps} exceeds steps={self.steps}; allowed: 0..steps"
            )
        if self.norm_gain and self.norm == "none":
            raise MupsimError(
                "norm_gain=True needs a normalization layer but norm='none'; "
                "set norm to 'rms' or 'layer', or norm_gain=False"
            )
        if self.inputs == "tokens":
            if self.input_dim < 2:
                raise MupsimError(
                    f"inputs='tokens' needs input_dim (the vocabulary size V) >= 2; "
                    f"got input_dim={self.input_dim}"
                )
            if self.input_spectrum != 0.0:
                raise MupsimError(
                    f"input_spectrum={self.input_spectrum} applies to inputs='gaussian' only; "
                    f"allowed with inputs='tokens': 0 (token statistics are set by zipf_exponent)"
                )
        elif self.zipf_exponent != 1.0:
            raise MupsimError(
                f"zipf_exponent={self.zipf_exponent} applies to inputs='tokens' only; "
                f"allowed with inputs='gaussian': 1.0 (the default), or set inputs='tokens'"
            )
        if self.task == "classification" and self.output_dim < 2:
            raise MupsimError(
                f"task='classification' needs output_dim >= 2 (number of classes); "
                f"got output_dim={self.output_dim}"
            )
        self._check_next_token(set_)
        if self.model == "normalized" and self.norm == "layer" and self.width < 2:
            raise MupsimError(
                f"norm='layer' needs width >= 2 (LayerNorm of one coordinate is always 0); "
                f"got width={self.width}; use norm='rms' or a larger width"
            )

        # sizes (seed range, steps, logs, memory), before anything is allocated
        from mupsim.sim import limits

        limits.check(self)
        # what the calculator would refuse at run time (wd without a rule, alignment_exponent
        # without the alignment rule, settings overflowing at this width, ...) is refused now;
        # the answer travels with the config (``settings``) to the run and its stored result
        from mupsim.sim.settings import settings_for

        set_("_settings", settings_for(self))

    def _check_next_token(self, set_) -> None:
        """Validate ``context`` and ``logit_scale`` (next-token task only) and the fields the
        task fixes; sets ``logit_scale`` to :data:`DEFAULT_LOGIT_SCALE` when it is None."""
        if self.task != "next_token":
            for name in ("context", "logit_scale"):
                v = getattr(self, name)
                if v is not None:
                    raise MupsimError(
                        f"{name}={show(v)} applies to task='next_token' only; allowed with "
                        f"task={self.task!r}: None (leave it out)"
                    )
            return
        if self.context is None:
            raise MupsimError(
                "task='next_token' needs context (the number of previous tokens c, an integer >= 2); got None"
            )
        set_("context", _int("context", self.context, minimum=2))
        if self.logit_scale is None:
            set_("logit_scale", DEFAULT_LOGIT_SCALE)
        set_("logit_scale", _float("logit_scale", self.logit_scale, lo=0.0, lo_open=True))
        if self.inputs != "tokens":
            raise MupsimError(
                f"task='next_token' needs inputs='tokens' (one-hot contexts); got inputs={self.inputs!r}"
            )
        if self.output_dim < 2:
            raise MupsimError(
                f"task='next_token' needs output_dim (the vocabulary size V) >= 2; got output_dim={self.output_dim}"
            )
        c, V = self.context, self.output_dim
        if self.input_dim != c * V:
            raise MupsimError(
                f"task='next_token' feeds c one-hot tokens of a vocabulary of V = output_dim, so input_dim "
                f"must be context*output_dim = {c}*{V} = {c * V}; got input_dim={self.input_dim}"
            )
        if self.teacher_width_exponent != 0.0:
            raise MupsimError(
                f"teacher_width_exponent={self.teacher_width_exponent} is not supported with "
                "task='next_token' (its teacher is fixed across widths); allowed: 0"
            )
        if self.label_noise != 0.0:
            raise MupsimError(
                f"label_noise={self.label_noise} does not apply to task='next_token' (the next token is "
                "already sampled from the teacher's softmax); allowed: 0"
            )

    @property
    def settings(self):
        """The calculator's per-layer Settings for this run, computed once when the config was built.

        Returns:
            mupsim.Settings: from :func:`mupsim.sim.settings.settings_for`.
        """
        return self._settings

    def __getstate__(self):
        """Pickled (and deep-copied) with its settings, less their derivation (sympy; ``explain()`` text only), so a
        config sent to a worker process stays small and quick to load."""
        state = dict(self.__dict__)
        s = state["_settings"]
        state["_settings"] = dataclasses.replace(
            s, exponents=dataclasses.replace(s.exponents, derivation=None)
        )
        return state

    # ------------------------------------------------------------------ derived
    def teacher_dims(self) -> tuple[int, int | None]:
        """(width, rank) of the teacher at this student width.

        ``teacher_width`` and ``teacher_rank`` times (width/base_width)^teacher_width_exponent,
        rounded, at least 1.

        Returns:
            (teacher width, teacher rank); rank None = full rank.

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> SimConfig(width=256, base_width=64, teacher_width=8, teacher_width_exponent=0.5).teacher_dims()
            (16, None)
        """
        return teacher_dims(
            self.width, self.base_width, self.teacher_width, self.teacher_rank, self.teacher_width_exponent
        )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all fields (tuples become lists), in field order.

        Fields added later are left out while they hold their default, so existing result keys
        stay valid.

        Returns:
            The dict; :meth:`from_dict` turns it back into an equal config.

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> c = SimConfig(width=32)
            >>> SimConfig.from_dict(c.to_dict()) == c
            True
        """
        d = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _OMIT_IF_DEFAULT and v is _OMIT_IF_DEFAULT[f.name]:
                continue  # fields added later: absent = default, so existing result keys stay valid
            d[f.name] = list(v) if isinstance(v, tuple) else v
        return d

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The field names, in field order.

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> SimConfig.field_names()[:3]
            ('model', 'width', 'base_width')
        """
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SimConfig:
        """Build from a dict (e.g. JSON); lists are accepted where tuples are expected.

        Args:
            d: field name → value; missing fields take their defaults.

        Returns:
            SimConfig: the validated config.

        Raises:
            MupsimError: ``d`` is not a mapping, has unknown keys (the message lists the valid
                ones), or holds an invalid value.

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> SimConfig.from_dict({"width": 32, "multipliers": [0, 0, 1]}).multipliers
            (0.0, 0.0, 1.0)
        """
        if not isinstance(d, Mapping):
            raise MupsimError(f"SimConfig.from_dict needs a mapping; got {type(d).__name__}")
        _check_keys(d.keys())
        kw = dict(d)
        if isinstance(kw.get("multipliers"), list):
            kw["multipliers"] = tuple(kw["multipliers"])
        return cls(**kw)

    def replace(self, **kw) -> SimConfig:
        """Copy with some fields changed (re-validated).

        Args:
            **kw: field name → new value.

        Returns:
            SimConfig: the new config.

        Raises:
            MupsimError: an unknown field name or an invalid value.

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> SimConfig().replace(seed=3).seed
            3
        """
        _check_keys(kw.keys())
        return dataclasses.replace(self, **kw)

    def key(self) -> str:
        """Stable short hash, used as the result file stem.

        Returns:
            16 hex characters of SHA-1 of the sorted-key JSON of ``to_dict()`` (-0.0 written as
            0.0, so that configs comparing equal share a key).

        Examples:
            >>> from mupsim.sim import SimConfig
            >>> k = SimConfig().key()
            >>> len(k), k == SimConfig(lr=1e-3).key(), k == SimConfig(lr=2e-3).key()
            (16, True, False)
        """
        d = {k: _unsigned_zero(v) for k, v in self.to_dict().items()}
        s = json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha1(s.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------- helpers
def _unsigned_zero(v):
    """``v`` with float -0.0 (also inside lists) replaced by 0.0."""
    if isinstance(v, float) and v == 0.0:
        return 0.0
    if isinstance(v, list):
        return [_unsigned_zero(x) for x in v]
    return v


def teacher_dims(width, base_width, teacher_width, teacher_rank, rho) -> tuple[int, int | None]:
    """(width, rank) of the teacher: ``teacher_width``/``teacher_rank`` times (width/base_width)^rho.

    Args:
        width: the student width n.
        base_width: the base width n0.
        teacher_width: the teacher width at the base width.
        teacher_rank: the teacher rank at the base width (None = full rank).
        rho: the teacher width exponent ρ >= 0 (0: a fixed teacher).

    Returns:
        (width, rank), rounded, at least 1, the rank at most the width (see
        :meth:`SimConfig.teacher_dims`).

    Examples:
        >>> from mupsim.sim.config import teacher_dims
        >>> teacher_dims(256, 64, 8, 4, 1.0)
        (32, 16)
    """
    if rho == 0.0:
        return teacher_width, teacher_rank
    f = (width / base_width) ** rho
    tw = max(1, int(round(teacher_width * f)))
    r = None if teacher_rank is None else min(tw, max(1, int(round(teacher_rank * f))))
    return tw, r


def _wd_rule(name: str, v):
    """A weight-decay rule (``wd_rule``, ``io_wd_rule``): None (or "none") or one of WD_RULES,
    canonical spelling."""
    if v is None:
        return None
    if isinstance(v, str) and v.strip().lower() == "none":
        return None
    for rule in wd_rules.WD_RULES.values():
        if not rule.simulated and isinstance(v, str) and v.strip().lower().replace("-", "_") == rule.name:
            raise MupsimError(
                f"{name}={rule.name!r} {rule.sim_unsupported}; allowed here: "
                f"{', '.join(WD_RULES)} (mupsim.transfer serves {rule.name})"
            )
    v = choice(name, v, WD_RULES + ("none",))
    return None if v == "none" else v


def _alignment(v):
    """'full' | 'none' (canonical strings) or a number in [0.5, 1] (stored as float), as the
    calculator accepts."""
    if isinstance(v, str):
        try:
            return choice("alignment", v, ALIGNMENTS)
        except MupsimError:
            try:
                num = float(v)
            except ValueError:
                try:  # a fraction such as '3/4', as the calculator reads it
                    num = float(rational(v, "alignment"))
                except MupsimError:
                    raise MupsimError(
                        f"unknown alignment {show(v)}; allowed: full, none, or a number in [0.5, 1]"
                    ) from None
            v = num
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise MupsimError(f"unknown alignment {show(v)}; allowed: full, none, or a number in [0.5, 1]")
    return _float("alignment", v, lo=0.5, hi=1.0)


def _check_keys(keys) -> None:
    valid = SimConfig.field_names()
    bad = [k for k in keys if k not in valid]
    if bad:
        raise MupsimError(
            f"unknown SimConfig field(s) {', '.join(map(repr, bad))}; valid fields: {', '.join(valid)}"
        )


_MAX_INT_BITS = 1024  # integers beyond float range (~1.8e308) are refused before any size check


def _int(name: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise MupsimError(f"{name} must be an integer >= {minimum}; got {show(v)}")
    v = int(v)
    if v < minimum or v.bit_length() > _MAX_INT_BITS:
        raise MupsimError(
            f"{name} must be an integer >= {minimum}; got {show(v)}"
            + ("" if v < minimum else ", beyond float range")
        )
    return v


def _bool(name: str, v) -> bool:
    try:
        import numpy as np

        if isinstance(v, np.bool_):
            return bool(v)
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(v, bool):
        raise MupsimError(f"{name} must be true or false; got {show(v)}")
    return v


def _float(name: str, v, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise MupsimError(f"{name} must be a real number; got {show(v)}")
    try:
        v = float(v)
    except OverflowError:  # an integer beyond float range
        v = math.inf if v > 0 else -math.inf

    def allowed() -> str:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"

    bad = not math.isfinite(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        bad = True
    if hi is not None and (v > hi or (hi_open and v == hi)):
        bad = True
    if bad:
        raise MupsimError(f"{name}={v!r} is out of range; allowed: finite values in {allowed()}")
    return v + 0.0  # -0.0 -> 0.0: equal values, one spelling (one key)
