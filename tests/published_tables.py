"""Published scaling tables used as test oracles (pure data, Fraction exponents).

Convention (Everett et al. 2024, arXiv 2407.05872; the project's abc convention):
effective weight W = n^(-a) * w,  init w0 ~ N(0, n^(-2b)),  lr = eta * n^(-c),
weight decay lambda * n^(-w).  Every number below is the x in n^(-x), n = width.
So "init var 1/fan_in^2" -> b = 1;  "lr ∝ fan_out" (input layer) -> c = -1;
"lr ∝ 1/fan_in" -> c = 1;  "multiplier 1/fan_in" -> a = 1.
Fixed (non-width) dimensions such as the embedding's fan_in k or the readout's
fan_out contribute exponent 0.

Layer keys: "embedding" (input-like, fixed -> n), "hidden" (n -> n),
"readout" (output-like, n -> fixed), "bias" (vector-like), "norm_gain".
Optimizer keys inside "c": "sgd", "adam", "adafactor".

Provenance, quotes and caveats for every table: the ``<TABLE>_DOC`` string beside it (source,
what was read and where); disagreements with the derivation: theory/published_tables.md.
Where a value could not be read from a source, the entry is None (never guessed)
and the docstring says so.
"""

from fractions import Fraction as F

Z = F(0)
H = F(1, 2)
ONE = F(1)

# ---------------------------------------------------------------------------
TP5_TABLE3 = {
    "embedding": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}},
    "hidden": {"a": Z, "b": H, "c": {"sgd": Z, "adam": ONE}},
    "readout": {"a": Z, "b": ONE, "c": {"sgd": ONE, "adam": ONE}},
    # "Input weights & all biases" column; bias treated as an input weight with
    # fan_in = 1.  SGD lr ∝ fan_out -> c = -1 for biases of width-n layers
    # (for the *output* bias fan_out is fixed, so its SGD c is 0).
    "bias": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}},
}
TP5_TABLE3_DOC = """Yang et al. 2022, "Tensor Programs V" (arXiv 2203.03466), Table 3:
"μP[57] and SP for General Neural Networks" (μP in the gauge with all multipliers 1).
Columns: Input weights & all biases | Output weights | Hidden weights.
  Init. Var.  1/fan_in  | 1/fan_in^2 (SP: 1/fan_in) | 1/fan_in
  SGD LR      fan_out (SP: 1) | 1/fan_in (SP: 1) | 1
  Adam LR     1 | 1/fan_in (SP: 1) | 1/fan_in (SP: 1)
Table 3 has no multiplier row: all multipliers are 1 (a = 0).
Biases: grouped with input weights ("all biases"), i.e. constant init, SGD lr ∝ fan_out,
Adam lr constant.  Caption points to Table 8 "for a μP formulation that is easier to
implement (and compatible with input/output weight sharing)".
Caveat: read from several independent transcriptions (not the PDF itself); one
scraped copy (a growing-networks doc) wrongly gives hidden SGD LR = 1/fan_in."""

# ---------------------------------------------------------------------------
TP5_TABLE8 = {
    "embedding": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}},
    "hidden": {"a": Z, "b": H, "c": {"sgd": Z, "adam": ONE}},
    # output weights: multiplier 1/fan_in (a=1), init var 1 i.e. CONSTANT (b=0),
    # SGD lr ∝ fan_in (c=-1), Adam lr constant (c=0).
    "readout": {"a": ONE, "b": Z, "c": {"sgd": F(-1), "adam": Z}},
    "bias": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}},
}
TP5_TABLE8_DOC = """TP5 (arXiv 2203.03466) Table 8, "Alternative (Equivalent) μP Formulation for
Easier Implementation" -- the formulation the `mup` package implements (maintainer
E. Hu, microsoft/mup issue #7: "what is implemented in this package is not described by
[Table 3] ... you want to look at Table 8").
Output weights: init var 1 (constant; 1/fan_in is the SP value shown in parentheses),
multiplier 1/fan_in, SGD LR fan_in, Adam LR 1.  Input weights & all biases: init var
1/fan_in (fan_in fixed -> constant), multiplier 1, SGD LR fan_out, Adam LR 1.  Hidden:
as Table 3.  It is Table 3 moved by the abc symmetry theta = 1 on the readout only:
(a,b,c) -> (a+1, b-1, c-2) for SGD, (a+1, b-1, c-1) for Adam.
Caveat: the table itself is an image in every copy found; values are confirmed by
the mup 1.0.0 source (MUP_PACKAGE below) and by the maintainer's statement on biases
(issue #12: "all biases, including that of the output layer, should be scaled in the same
way as the input layer ... f(x) = Wx / fan_in + b").  Output bias: lr like input weights,
i.e. the SGD lr of the OUTPUT bias is width-independent (its fan_out is fixed)."""

# What microsoft/mup (v1.0.0: mup/optim.py, mup/layer.py, mup/init.py, mup/infshape.py)
# actually does, as exponents relative to base width (m = n/n0).  "w" = weight decay.
MUP_PACKAGE = {
    "embedding": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}, "w": {"sgd": ONE, "adam": Z}},
    "hidden": {"a": Z, "b": H, "c": {"sgd": Z, "adam": ONE}, "w": {"sgd": Z, "adam": F(-1)}},
    "readout": {"a": ONE, "b": Z, "c": {"sgd": F(-1), "adam": Z}, "w": {"sgd": ONE, "adam": Z}},
    "bias": {"a": Z, "b": Z, "c": {"sgd": F(-1), "adam": Z}, "w": {"sgd": ONE, "adam": Z}},
}
MUP_PACKAGE_DOC = """microsoft/mup 1.0.0 source:
- MuAdam/MuAdamW: params with 2 infinite dims: group['lr'] /= width_mult;
  group['weight_decay'] *= width_mult.  All other params unchanged.  With torch AdamW
  (coupled, per-step decay lr*wd) the hidden-matrix per-step decay lr*wd is therefore
  width-INDEPENDENT, i.e. wd ∝ n (w = -1): the constant-timescale rule.
- MuSGD: 1-inf-dim params (input weights, output weights, biases): lr *= width_mult,
  wd /= width_mult; 2-inf-dim: lr /= fanin_fanout_mult_ratio, wd *= ratio (square
  hidden: unchanged).  width_mult() uses the LAST infinite dim (fan_in if infinite).
- MuReadout: forward = Linear(output_mult * x / width_mult); _rescale_parameters
  multiplies weight and bias by width_mult**0.5 (PyTorch default var 1/fan_in ->
  1/base_fan_in, constant).  rescale_linear_bias does the same for other biases.
- mup.init: 2-inf-dim tensors get std scaled by width_mult**-0.5; others unchanged."""

# ---------------------------------------------------------------------------
# Everett et al. 2024, Table 1.  None = a value no source gave verbatim (see EVERETT_TABLE1_DOC).
_FULL, _NONE = "full", "none"
EVERETT_TABLE1 = {
    "sp": {
        "a": {"embedding": Z, "hidden": Z, "readout": Z},
        "b": {"embedding": Z, "hidden": H, "readout": H},
        "c": {
            _FULL: {
                "adam": {"embedding": Z, "hidden": ONE, "readout": ONE},
                "sgd": {"embedding": F(-1, 2), "hidden": H, "readout": ONE},
                "adafactor": None,
            },
            _NONE: {
                "adam": {"embedding": Z, "hidden": H, "readout": H},
                "sgd": {"embedding": F(-1, 2), "hidden": Z, "readout": H},
                "adafactor": None,
            },
        },
    },
    "ntk": {
        "a": {"embedding": Z, "hidden": H, "readout": H},
        "b": {"embedding": Z, "hidden": Z, "readout": Z},
        "c": {
            _FULL: {
                "adam": {"embedding": Z, "hidden": H, "readout": H},
                "sgd": {"embedding": F(-1, 2), "hidden": F(-1, 2), "readout": Z},
                "adafactor": None,
            },
            _NONE: {
                "adam": {"embedding": Z, "hidden": Z, "readout": Z},
                "sgd": {"embedding": F(-1, 2), "hidden": F(-1), "readout": F(-1, 2)},
                "adafactor": None,
            },
        },
    },
    "mup": {
        "a": {"embedding": F(-1, 2), "hidden": Z, "readout": H},
        "b": {"embedding": H, "hidden": H, "readout": H},
        "c": {
            _FULL: {
                "adam": {"embedding": H, "hidden": ONE, "readout": H},
                "sgd": {"embedding": Z, "hidden": Z, "readout": Z},
                "adafactor": None,
            },
            _NONE: {
                "adam": {"embedding": H, "hidden": H, "readout": Z},
                "sgd": {"embedding": Z, "hidden": F(-1, 2), "readout": Z},
                "adafactor": None,
            },
        },
    },
    "mfp": {
        "a": {"embedding": Z, "hidden": H, "readout": ONE},
        "b": {"embedding": Z, "hidden": Z, "readout": Z},
        "c": {
            _FULL: {
                "adam": None,
                "sgd": {"embedding": F(-1), "hidden": F(-1), "readout": F(-1)},
                "adafactor": None,
            },
            _NONE: {
                "adam": None,
                "sgd": {"embedding": F(-1), "hidden": F(-3, 2), "readout": F(-1)},
                "adafactor": None,
            },
        },
    },
}
# Facts about the table that WERE read (used by tests as constraints):
EVERETT_SYMMETRY_K = {"sgd": 2, "adam": 1, "adafactor": 0}  # c -> c - k*theta
EVERETT_READOUT_A_PLUS_B = {"sp": H, "ntk": H, "mup": ONE, "mfp": ONE}
EVERETT_FULL_ALIGNMENT = {"alpha": ONE, "omega": H, "u": ONE}
EVERETT_TABLE1_DOC = """Everett et al. 2024, "Scaling Exponents Across Parameterizations and
Optimizers" (ICML 2024, arXiv 2407.05872), Table 1.  The paper PDF/HTML could not be read
beyond its first page (no fuller copy was available).  Values above come from a third-party
reimplementation (a PyTorch `DeepNN` whose docstring lists Everett's Adam lr scalings:
"When alignment=True: Standard ... Embedding (1), Hidden (1/n), Readout (1/n); NTK ...
Embedding (1), Hidden (1/√n), Readout (1/√n); muP ... Embedding (1/√n), Hidden (1/n),
Readout (1/√n)"; alignment=False: SP (1, 1/√n, 1/√n), NTK (1, 1, 1), muP (1/√n, 1/√n, 1)),
with its init std / multipliers giving (a, b).
SGD cells (all four parameterizations, both alignments) and MFP's (a, b): another version of
that reimplementation (class docstring "Modified DeepNN class that can store activations for
load factor calculation"; its repository is not known; found by searching source code for
"Mean Field parameterization"), whose per-layer lr scales are commented "SGD
scaling" and read, as c of lr ∝ n^-c (embedding, hidden, readout):
  full alignment: SP (-1/2, 1/2, 1), NTK (-1/2, -1/2, 0), muP (0, 0, 0), MFP (-1, -1, -1);
  no alignment:   SP (-1/2, 0, 1/2), NTK (-1/2, -1, -1/2), muP (0, -1/2, 0), MFP (-1, -3/2, -1);
  MFP: init std 1 everywhere (b = 0), multipliers 1, 1/√n, 1/n (a = 0, 1/2, 1).
Independent consistency checks of these cells: they obey the SGD symmetry k = 2 (SP -> NTK and
muP -> MFP shift c by -2θ with θ = 1/2 on the layers whose a changes), and a reader of the paper
(152334H, "Calculating the Cost of a Google Deepmind Paper", 2024) names muP + SGD + full
alignment as a case with c_1 = c_l = c_{L+1} (here (0, 0, 0)).  They are still a third-party
transcription, not the paper's own table (its text could not be read: the available copies of
arXiv 2407.05872 / ICML everett24a PDF and the sdsc.edu text gave only the first page).
Adafactor and MFP-Adam cells: NOT FOUND -> None.  The same reader states that Adafactor with no
alignment has c_1 = c_l = c_{L+1} for every parameterization; the calculator gives that for
SP/NTK (0, 0, 0) but (0, 0, -1/2) for muP/MFP — unresolved, see theory/published_tables.md.
Definitions (paper, via summaries and a third-party LP transcription of its appendix):
- symmetry (a,b,c) -> (a+θ, b-θ, c-kθ), k = 2 SGD, 1 Adam, 0 Adafactor; SP~NTK, μP~MFP.
- readout a+b = 1/2 for SP/NTK (Θ(1) logits at init), = 1 for μP/MFP (logits ~ 1/√n).
- alignment exponents per layer l: alpha_l for the z_{l-1}^0·ΔW_l term, omega_l for the
  Δz_{l-1}·W_l^0 term, u_l for the Δz_{l-1}·ΔW_l term; "full alignment would mean 0.5
  omega for all layers and 1.0 U and alpha" (Kilian & Wojnar blog, building on [1]).
- stability at init: a_1+b_1 = 0, a_l+b_l = 1/2 (hidden), a_{L+1}+b_{L+1} >= 1/2.
- r_l = exponent of the change in layer-l activations (Δz_l ~ n^(-r_l)); stability r_l >= 0,
  feature learning r_L = 0 (last hidden).  Adam:  r_1 = a_1 + c_1;
  r_l = min(a_l+c_l-alpha_l, a_l+c_l+r_{l-1}-u_l, 1/2+r_{l-1}-omega_l);
  readout r_{L+1} = min(a+b+r_L-omega, a+c-alpha, a+c+r_L-u).
  SGD: each a_l+c_l is replaced by g_l + a_l + c_l with
  g_l = min(a_{L+1}+b_{L+1}, 2a_{L+1}+c_{L+1}) + a_l, and the readout uses 2a+c.
  (Transcribed from a third-party solver, not from the paper; check against Appendix.)"""

# ---------------------------------------------------------------------------
FAN2025_TABLE2 = {
    # exponents "c" (lr) and "w" (weight decay); "zero" means lambda = 0 exactly
    "hidden": {"c": ONE, "w": F(-1, 2)},  # eta_2 ∝ d^-1, lambda_2 ∝ sqrt(d)
    "norm_gain": {"c": Z, "w": "zero"},  # vector-like: eta_1 = Θ(1), lambda_1 = 0
    "bias": {"c": Z, "w": "zero"},
    "embedding": None,  # matrix-like or vector-like?  NOT FOUND (Table 2 not read)
    "readout": None,  # NOT FOUND
}
FAN2025_TABLE2_DOC = """Fan, Liu, Zhao, Yuan, Gu 2025, arXiv 2510.15262, abstract (arxiv.org/html/
2510.15262v1): "the top singular value scales approximately as √(η/λ)·d^0.75 ... μP
learning-rate rule η2 ∝ d^-1 for matrix-like parameters implies an empirical weight-decay
scaling rule λ2 ∝ √d ... Together with vector-like parameters trained at η1=Θd(1) and λ1=0".
Table 2 itself (per-class rows, incl. embedding / lm head) could NOT be read: only the
first page of the paper was available.  Whether embedding and readout count as matrix-like
(λ ∝ √d) or vector-like (λ = 0, η = Θ(1)) is therefore UNRESOLVED here.
Scraped-copy error confirmed: chatpaper.ai's abstract reads "scales in norm as eta/lambda"
and "lambda_2 propto d" (square roots lost).  w = -1/2 is the x of n^(-x) for λ ∝ √d."""

# ---------------------------------------------------------------------------
DEPTH = {
    # exponents are x in L^(-x), L = depth (or depth multiplier L/L0)
    "depth_mup": {"branch_multiplier": H, "hidden_lr": {"adam": H, "sgd": Z}},
    "completep": {
        "branch_multiplier": ONE,
        "hidden_lr": {"adam": Z},
        "hidden_wd": {"adamw": Z},  # width: wd * m_width, no depth factor
        "norm_and_bias_lr": {"adam": Z},  # L^(alpha-1), wd = 0
        "adam_eps": {"hidden": ONE, "emb_unemb": Z},
    },
    # CompleteP implementation for general alpha: multiplier L^-alpha, hidden/LN/bias lr
    # L^(alpha-1), hidden eps (1/m_width) * L^-alpha (width eps exponent 1 for all matrices).
}
DEPTH_DOC = """Depth-μP: Yang, Yu, Zhu, Hayou, "Tensor Programs VI" (arXiv 2310.02244) abstract: "dividing
the contribution of each residual block and the parameter update by the square root of the
depth"; a third-party summary: SGD base lr O(1) (gradient already carries L^-1/2), Adam lr
η·L^-1/2.  Bordelon et al. 2023 (arXiv 2309.16620) use the same 1/√L branch (not re-read).
CompleteP: Dey et al. 2025 (arXiv 2505.01618), authors' code EleutherAI/nanoGPT-mup
(branch completep) README: residual_scaling = 1/depth_multiplier**alpha;
depth_lr_scaling = depth_multiplier**(alpha-1) (llm-foundry port); hidden weights
lr_scale = width_lr_scaling*depth_lr_scaling, weight_decay = wd / width_lr_scaling;
LN/bias groups weight_decay 0.0; hidden_adam_eps = eps/m_width * m_depth**(-alpha);
emb_unemb_adam_eps = eps/m_width.  Erratum in that README: a later fix (bug found by
arXiv 2512.22382) added the separate emb/unemb vs hidden eps scaling (paper Eq. 40)."""

# ---------------------------------------------------------------------------
MUON = {
    # Keller Jordan's original Muon lr adjustment: lr * sqrt(max(1, fan_out/fan_in))
    "keller_original": {"hidden": Z, "embedding": F(-1, 2), "readout": Z},
    # spectral-condition scaling lr ∝ sqrt(fan_out/fan_in) (from the spectral condition)
    "sqrt_fanout_over_fanin": {"hidden": Z, "embedding": F(-1, 2), "readout": H},
    "vectors": "adam",  # biases / gains use AdamW in every implementation read
}
MUON_DOC = """Keller Jordan's rule as quoted in burn-optim docs (docs.rs burn_optim muon.rs):
"Keller Jordan's original method: `lr * sqrt(max(1, A/B))`" for an A×B (fan_out×fan_in)
matrix; torch.optim.Muon exposes adjust_lr_fn.  Usage guidance (mlx.optimizers.Muon docs,
burn docs, J. Su "Beyond MuP 3"): Muon "may be sub-optimal for the embedding layer, the
final fully connected layer, or any 0D/1D parameters. Those should be optimized by a
different method (e.g., AdamW)".  "Towards a principled Muon under μP": NOT FOUND.
Exponents: square hidden -> 0; embedding n×k -> sqrt(n/k) -> c = -1/2; readout
out×n -> max(1, out/n)=1 -> c = 0 (Keller) or sqrt(out/n) -> c = 1/2 (spectral)."""

# ---------------------------------------------------------------------------
SPECTRAL = {
    # ||W||_* and ||ΔW||_* = Θ(sqrt(fan_out/fan_in)) -> exponent s in n^(-s)
    "norm": {"embedding": F(-1, 2), "hidden": Z, "readout": H},
    # init std = (1/sqrt(fan_in)) * min(1, sqrt(fan_out/fan_in))  (a = 0 gauge)
    "b": {"embedding": Z, "hidden": H, "readout": ONE},
    "c": {"sgd": None, "adam": None},  # no source gave these verbatim (SPECTRAL_DOC)
}
SPECTRAL_DOC = """Yang, Simon, Bernstein 2023, arXiv 2310.17813 (arxiv.org/html/2310.17813v2 abstract):
"feature learning is achieved by scaling the spectral norm of weight matrices and their
updates like √(fan-out/fan-in)".  Init formula std = 1/sqrt(fan_in)*min(1, sqrt(fan_out/
fan_in)) read from a third-party implementation citing the paper.  b reproduces TP5
Table 3 (0, 1/2, 1).  Per-layer SGD/Adam lr from the paper not read -> None."""
