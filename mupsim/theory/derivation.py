"""A derivation: stated assumptions, ordered steps, solved results.

Each step pairs a sentence with the sympy expression it asserts, so the same
object drives the calculator (``results``), ``--explain`` (plain text) and the
rendered Markdown in ``theory/`` (LaTeX).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One step: a sentence, optionally a sympy relation or expression."""

    text: str
    expr: object = None

    def latex(self) -> str:
        if self.expr is None:
            return ""
        return sp.latex(self.expr)

    def plain(self) -> str:
        if self.expr is None:
            return ""
        return plain(self.expr)


def symbol(name: str) -> sp.Symbol:
    """A display symbol for a result name: one subscript, 'norm_gain' shown as 'gain' (so LaTeX does not
    turn the second underscore into a space or a nested subscript)."""
    head, _, rest = name.replace("norm_gain", "gain").partition("_")
    return sp.Symbol(head + ("_" + rest.replace("_", ",") if rest else ""))


_REL = {
    sp.Equality: "=",
    sp.GreaterThan: "≥",
    sp.LessThan: "≤",
    sp.StrictGreaterThan: ">",
    sp.StrictLessThan: "<",
}


def plain(expr) -> str:
    """Plain-text form: relations as 'lhs = rhs' / 'lhs ≥ rhs', tuples as (a, b), never sympy's Eq(...)."""
    for cls, op in _REL.items():
        if isinstance(expr, cls):
            return f"{plain(expr.lhs)} {op} {plain(expr.rhs)}"
    if isinstance(expr, sp.Tuple):
        return "(" + ", ".join(plain(x) for x in expr) + ")"
    return sp.sstr(expr)


@dataclass
class Derivation:
    """Assumptions + steps + results (results map a name to a sympy value)."""

    title: str
    assumptions: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    results: dict[str, object] = field(default_factory=dict)

    def assume(self, text: str) -> None:
        self.assumptions.append(text)

    def step(self, text: str, expr=None) -> None:
        self.steps.append(Step(text, expr))

    def result(self, name: str, value, text: str | None = None):
        value = sp.nsimplify(value) if isinstance(value, (int, float)) else value
        self.results[name] = value
        if text is not None:
            self.step(text, sp.Eq(symbol(name), value))
        return value

    def extend(self, other: Derivation, prefix: str = "") -> None:
        """Append another derivation's assumptions, steps and results."""
        for a in other.assumptions:
            if a not in self.assumptions:
                self.assumptions.append(a)
        self.steps.extend(other.steps)
        for k, v in other.results.items():
            self.results[prefix + k] = v

    def to_text(self) -> str:
        lines = [self.title, "=" * len(self.title)]
        if self.assumptions:
            lines.append("Assumptions:")
            lines += [f"  - {a}" for a in self.assumptions]
        lines.append("Steps:")
        for i, s in enumerate(self.steps, 1):
            eq = s.plain()
            lines.append(f"  {i:2d}. {s.text}" + (f"\n        {eq}" if eq else ""))
        return "\n".join(lines)

    def to_markdown(self, level: int = 2) -> str:
        h = "#" * level
        out = [f"{h} {self.title}", ""]
        if self.assumptions:
            out += ["**Assumptions**", ""]
            out += [f"- {a}" for a in self.assumptions]
            out.append("")
        out += ["**Derivation**", ""]
        for i, s in enumerate(self.steps, 1):
            out.append(f"{i}. {s.text}")
            tex = s.latex()
            if tex:
                out += ["", f"   $$ {tex} $$", ""]
        out.append("")
        return "\n".join(out)
