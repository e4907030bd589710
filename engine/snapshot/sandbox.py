"""The Jinja sandbox error templates run in: bounded in time and memory, not just in reach.

Jinja's own sandbox keeps a template from reaching Python internals, but not from
asking for `7 ** 12000000` (minutes of CPU, folded at compile time), `"x" * 10**9` or
`range(10**5)` inside `range(10**5)`. Here every operation that can grow a value is
bounded, loops do not nest, and only filters whose output is proportional to their
input are offered. What an error message needs (conditions, joins, a loop over
suggestions) all works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_BITS = 4096  # of a number made by ** or *
MAX_ITEMS = 10_000  # of a sequence made by *, and of any size passed to a call
MAX_OUTPUT = 16_384  # characters of one rendered message
SAFE_FILTERS = frozenset(
    [
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float",
        "int", "join", "last", "length", "list", "lower", "max", "min", "reject",
        "rejectattr", "reverse", "round", "select", "selectattr", "sort", "string",
        "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode",
        "wordcount",
    ]
)  # fmt: skip
SAFE_GLOBALS = ("range", "dict", "namespace", "joiner", "cycler")  # not lipsum: it makes text


class LimitExceeded(SecurityError):
    """A template asked for more than an error message may cost."""


def _power(base: Any, exponent: Any) -> Any:
    integers = isinstance(base, int) and isinstance(exponent, int)
    if integers and exponent > 0 and exponent * abs(base).bit_length() > MAX_BITS:
        raise LimitExceeded(f"a power beyond {MAX_BITS} bits")
    return base**exponent


def _times(left: Any, right: Any) -> Any:
    integers = isinstance(left, int) and isinstance(right, int)
    if integers and left.bit_length() + right.bit_length() > MAX_BITS:
        raise LimitExceeded(f"a product beyond {MAX_BITS} bits")
    for sequence, count in ((left, right), (right, left)):
        repeated = isinstance(sequence, str | list | tuple) and isinstance(count, int)
        if repeated and len(sequence) * count > MAX_ITEMS:
            raise LimitExceeded(f"a repetition beyond {MAX_ITEMS} items")
    return left * right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        raise LimitExceeded("%-formatting (its widths are unbounded); use ~ and filters")
    return left % right


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {"**": _power, "*": _times, "%": _modulo}


class BoundedSandbox(SandboxedEnvironment):
    """A SandboxedEnvironment whose operators, calls and filters cannot grow without bound."""

    intercepted_binops = frozenset(_OPERATORS)  # also keeps them from being folded at compile

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: f for name, f in self.filters.items() if name in SAFE_FILTERS}
        self.globals = {name: self.globals[name] for name in SAFE_GLOBALS}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return _OPERATORS[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        sizes = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
        if any(abs(size) > MAX_ITEMS for size in sizes):
            raise LimitExceeded(f"a call with a size beyond {MAX_ITEMS}")
        if isinstance(getattr(__obj, "__self__", None), str) and __obj.__name__ in (
            "format",
            "format_map",
        ):
            raise LimitExceeded("str.format (its widths are unbounded); use ~ and filters")
        return super().call(__context, __obj, *args, **kwargs)


def check_shape(tree: nodes.Template) -> None:
    """Refuse what would multiply work: nested or recursive loops, macros, call blocks."""
    block = next(tree.find_all((nodes.Macro, nodes.CallBlock)), None)
    if block is not None:
        raise LimitExceeded(f"line {block.lineno}: macros and call blocks are not available")
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise LimitExceeded(f"line {loop.lineno}: recursive loops are not available")
        inner = next(loop.find_all(nodes.For), None)
        if inner is not None:
            raise LimitExceeded(f"line {inner.lineno}: loops do not nest in an error template")
