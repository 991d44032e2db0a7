"""Symbolic derivations (sympy) of per-layer scaling exponents.

Every rule mupsim serves is solved here from stated assumptions; nothing in
this package is a typed-in table. Sizes are tracked as exponents: a quantity
of size Θ(n^(-x)) is represented by the sympy expression x.
"""
