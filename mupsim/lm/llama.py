"""A LLaMA-style causal LM at any width: transformers' ``LlamaForCausalLM`` from a config.

RMSNorm, SwiGLU MLP (intermediate size ``mlp_ratio``·width, so its matrices are hidden, both
dimensions growing), rotary positions, untied embedding and head, no biases; random init
(transformers' normal(0, 0.02)), nothing downloaded.

Head dimension: **fixed** (``head_dim``, default 16); the number of heads grows with the width
(width/head_dim). The attention logits keep LLaMA's 1/√head_dim, which with a fixed head
dimension is a width-independent constant, so μP's 1/head_dim needs no change to ``forward``
(it differs from 1/√head_dim only when the head dimension grows).

Norm gains: transformers' ``LlamaRMSNorm`` is not a ``torch.nn`` norm class, so the bridge would
call its weight a bias; :data:`OVERRIDES` names them ``norm_gain`` (pass it as ``overrides=``).
"""

from __future__ import annotations

from mupsim.errors import MupsimError

OVERRIDES = {"*layernorm.weight": "norm_gain", "model.norm.weight": "norm_gain"}


def make_llama(
    width: int,
    *,
    vocab_size: int = 256,
    depth: int = 2,
    head_dim: int = 16,
    mlp_ratio: int = 3,
    context: int = 512,
):
    """``LlamaForCausalLM`` with hidden size ``width`` (a multiple of ``head_dim``), ``depth`` blocks."""
    try:
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError:
        raise MupsimError(
            "the LLaMA model needs the 'transformers' package (pip install transformers)"
        ) from None
    for name, v in (
        ("width", width),
        ("vocab_size", vocab_size),
        ("depth", depth),
        ("head_dim", head_dim),
        ("mlp_ratio", mlp_ratio),
        ("context", context),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise MupsimError(f"{name} must be a positive integer, got {v!r}")
    if width % head_dim:
        raise MupsimError(
            f"width {width} must be a multiple of head_dim {head_dim} (the head dimension is fixed)"
        )
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=width,
        intermediate_size=mlp_ratio * width,
        num_hidden_layers=depth,
        num_attention_heads=width // head_dim,
        num_key_value_heads=width // head_dim,
        head_dim=head_dim,
        max_position_embeddings=context,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        use_cache=False,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(cfg)


class LlamaLM:
    """Picklable factory ``width -> model`` with fixed keywords (for process pools and the CLI)."""

    def __init__(self, **kw):
        self.kw = kw

    def __call__(self, width):
        return make_llama(width, **self.kw)

    def __repr__(self):
        return f"LlamaLM({', '.join(f'{k}={v!r}' for k, v in sorted(self.kw.items()))})"
