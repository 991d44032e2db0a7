"""mupsim: how every per-layer hyperparameter must scale with width.

Conventions (Everett et al. 2024, "abc"): effective weight W = n^(-a)·w, init
w0 ~ N(0, n^(-2b)), learning rate η·n^(-c), weight decay λ·n^(-w). Every
exponent reported is the x of n^(-x). AdamW is coupled: w ← w − η(u + λw).

Examples:
    >>> import mupsim
    >>> mupsim.exponents("mup", "adamw").layers["hidden"].lr  # c of η·n^(-c)
    Fraction(1, 1)
    >>> mupsim.transfer(256, 1024, lr=1e-3).layers["hidden"].lr  # η·(1024/256)^(-1)
    0.00025
"""

__version__ = "0.1.0"

from mupsim import steady_state  # noqa: E402
from mupsim.alpha import (  # noqa: E402
    AlphaEstimate,
    alpha_from_rank_exponent,
    alpha_from_stable_ranks,
    rank_exponent_from_alpha,
)
from mupsim.calculator import (  # noqa: E402
    DEPTH_RULES,
    OPTIMIZERS,
    PARAMETERIZATIONS,
    WD_RULES,
    Exponents,
    LayerExponents,
    LayerSettings,
    Settings,
    exponents,
    transfer,
)
from mupsim.errors import MupsimError  # noqa: E402

__all__ = [
    "MupsimError",
    "__version__",
    "exponents",
    "transfer",
    "Exponents",
    "LayerExponents",
    "Settings",
    "LayerSettings",
    "PARAMETERIZATIONS",
    "OPTIMIZERS",
    "WD_RULES",
    "DEPTH_RULES",
    "steady_state",
    "alpha_from_rank_exponent",
    "rank_exponent_from_alpha",
    "alpha_from_stable_ranks",
    "AlphaEstimate",
]
