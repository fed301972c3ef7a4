"""Parameter substitution inside specs: "$name", "${expression}" and "conv${n}" names.

Expressions are parsed with `ast` and evaluated over a whitelist of nodes (numbers, names,
arithmetic, comparisons, and/or/not, `a if c else b`, min/max): specs are data, never `eval`ed.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Mapping
from keyword import iskeyword

from .errors import SpecError

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    import ast
    from typing import Any

# ast's operator classes by name: ast is imported when an expression is more than a name
_BINARY = {"Add": operator.add, "Sub": operator.sub, "Mult": operator.mul,
           "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": operator.pow,
           "Div": operator.truediv}
_COMPARE = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le,
            "Gt": operator.gt, "GtE": operator.ge}
_FUNCS = {"min": min, "max": max}
_WHOLE = re.compile(r"^\$(?:([A-Za-z_]\w*)|\{([^{}]*)\})$")
_PART = re.compile(r"\$(?:([A-Za-z_]\w*)|\{([^{}]*)\})")


MAX_TEXT = 1_000   # characters in one expression
MAX_NODES = 200    # operators, names and constants in one expression


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[ast.expr, int] | None:
    """The expression's tree and its size (None: a syntax error); a spec repeats few distinct
    expressions."""
    import ast

    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    return tree, sum(1 for _ in ast.walk(tree))


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate one whitelisted expression over the variables in `env`."""
    if len(text) > MAX_TEXT:
        raise SpecError(f"an expression of {len(text):,} characters; the limit is {MAX_TEXT:,}")
    if text.isidentifier() and not iskeyword(text):  # `$c`: a name, read without parsing
        return _check_size(_variable(text, env, text), text)
    parsed = _parse(text)
    if parsed is None:
        raise SpecError(f"cannot parse expression {text[:80]!r}")
    tree, size = parsed
    if size > MAX_NODES:
        raise SpecError(f"the expression {text[:80]!r}… has more than {MAX_NODES} parts")
    try:
        return _check_size(_eval(tree, env, text), text)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise SpecError(f"cannot evaluate {text!r}: {e}") from None


MAX_MAGNITUDE = 2**63  # no size in a network comes near; bigger results are mistakes
MAX_LENGTH = 10_000    # longest list or string an expression may build


def _check_size(value: Any, text: str) -> Any:
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"{text!r} gives a number with {value.bit_length()} bits, far beyond any "
                        "layer size")
    if isinstance(value, float) and abs(value) > MAX_MAGNITUDE:
        raise SpecError(f"{text!r} gives {value:.3g}, far beyond any layer size")
    if isinstance(value, (str, list)) and len(value) > MAX_LENGTH:
        raise SpecError(f"{text!r} builds a value of length {len(value):,}")
    return value


def _variable(name: str, env: Mapping[str, Any], text: str) -> Any:
    if name not in env:
        raise SpecError(f"unknown variable {name!r} in {text!r}",
                        hint=f"variables here: {', '.join(sorted(env)) or 'none'}")
    return env[name]


def _eval(node: ast.AST, env: Mapping[str, Any], text: str) -> Any:
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str, type(None))):
        return node.value
    if isinstance(node, ast.Name):
        return _variable(node.id, env, text)
    if isinstance(node, ast.BinOp) and type(node.op).__name__ in _BINARY:
        left, right = _eval(node.left, env, text), _eval(node.right, env, text)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise SpecError(f"exponent too large in {text!r}")
        if isinstance(node.op, ast.Mult) and isinstance(left, (str, list)) != isinstance(right, (str, list)):
            raise SpecError(f"cannot repeat a list or string in {text!r}",
                            hint="expressions compute numbers")
        return _check_size(_BINARY[type(node.op).__name__](left, right), text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        value = _eval(node.operand, env, text)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BoolOp):  # Python's: the operand that decides, short-circuited
        value = _eval(node.values[0], env, text)
        for operand in node.values[1:]:
            if bool(value) != isinstance(node.op, ast.And):
                break
            value = _eval(operand, env, text)
        return value
    if isinstance(node, ast.Compare) and all(type(op).__name__ in _COMPARE for op in node.ops):
        left = _eval(node.left, env, text)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, text)
            if not _COMPARE[type(op).__name__](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, env, text) else node.orelse, env, text)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords):
        return _FUNCS[node.func.id](*(_eval(a, env, text) for a in node.args))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, env, text) for e in node.elts]
    raise SpecError(f"unsupported expression {text!r}",
                    hint="use numbers, variables, + - * // % **, comparisons, and/or/not, "
                         "'a if cond else b', min(), max()")


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """Replace variables in a value from a spec (recursing into lists and mappings)."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return evaluate(whole.group(1) or whole.group(2), env)
        if "$" in value:
            return _PART.sub(lambda m: str(evaluate(m.group(1) or m.group(2), env)), value)
        return value
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value
