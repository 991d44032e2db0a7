"""Layer classes by which of their dimensions grow with the width n.

``d_in`` / ``d_out`` are the exponents of fan-in / fan-out in n (0: fixed,
1: proportional to n). Vector-like parameters (biases, norm gains) have one
growing dimension and no fan-in sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

n = sp.Symbol("n", positive=True)


@dataclass(frozen=True)
class LayerClass:
    name: str
    d_in: int
    d_out: int
    vector: bool
    description: str

    @property
    def d_max(self) -> int:
        return max(self.d_in, self.d_out)

    @property
    def d_min(self) -> int:
        return min(self.d_in, self.d_out)


LAYER_CLASSES: dict[str, LayerClass] = {
    "embedding": LayerClass("embedding", 0, 1, False, "input-like matrix, fixed fan-in k → width n"),
    "hidden": LayerClass("hidden", 1, 1, False, "hidden matrix, width n → width n"),
    "readout": LayerClass("readout", 1, 0, False, "output-like matrix, width n → fixed fan-out"),
    "bias": LayerClass("bias", 0, 1, True, "vector-like: bias of a width-n layer"),
    "norm_gain": LayerClass("norm_gain", 0, 1, True, "vector-like: gain of a width-n normalisation"),
}
MATRIX_LAYERS = ("embedding", "hidden", "readout")
VECTOR_LAYERS = ("bias", "norm_gain")
LAYERS = MATRIX_LAYERS + VECTOR_LAYERS
