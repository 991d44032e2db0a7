"""Language-model pieces for transfer checks on real text, offline.

* :mod:`mupsim.lm.corpus`  the running interpreter's standard-library sources as a corpus
                           (deterministic file list, train/held-out split by file), byte-level
                           (V = 256) or BPE tokens (the ``tokenizers`` package, trained here)
* :mod:`mupsim.lm.llama`   a LLaMA-style model factory (transformers' ``LlamaForCausalLM`` from a
                           config: RMSNorm, SwiGLU, rotary positions, untied head; no weights)
* :mod:`mupsim.lm.trainer` a causal-LM trainer ``train(model, optimizers, data, steps) -> held-out
                           loss`` for :func:`mupsim.torch.transfer.transfer_check`

``corpus`` needs numpy only (and ``tokenizers`` for BPE); ``llama`` and ``trainer`` need torch
(``llama`` also transformers). Nothing is downloaded.
"""
