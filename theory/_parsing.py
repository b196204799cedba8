"""Whitelist parser: user strings to sympy expressions, never evaluated as Python.

Kernels (`"exp(z)"`), losses (`"(x*y - 1)**2/2"`) and similar user input are parsed with
Python's `ast` module in `eval` mode and translated node by node into sympy.  Only numbers,
the four arithmetic operators, powers, unary signs, the named variables, a fixed table of
constants and a fixed table of functions are accepted; any other node (attribute access,
subscripts, lambdas, comprehensions, keyword arguments, strings, ...) is rejected with a
`ValueError` that names the offending piece.  Nothing is ever passed to `eval`, `exec` or
`sympy.sympify`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping

import sympy as sp

__all__ = ["DEFAULT_FUNCTIONS", "DEFAULT_CONSTANTS", "parse_expression"]

DEFAULT_FUNCTIONS: Mapping[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "asin": sp.asin,
    "acos": sp.acos,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "atan": sp.atan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "abs": sp.Abs,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "gamma": sp.gamma,
    "loggamma": sp.loggamma,
    "relu": lambda u: sp.Max(u, 0),
    "max": sp.Max,
    "min": sp.Min,
}
"""Functions a user string may call, by name.  Each maps to the sympy function it builds."""

DEFAULT_CONSTANTS: Mapping[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}
"""Named constants a user string may use."""

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}
_MAX_LENGTH = 2000
_MAX_DEPTH = 60


def parse_expression(
    text: str,
    variables: Iterable[str] | Mapping[str, sp.Symbol],
    *,
    functions: Mapping[str, Callable[..., sp.Expr]] | None = None,
    constants: Mapping[str, sp.Expr] | None = None,
    argument: str = "expression",
) -> sp.Expr:
    """Parse a user string into a sympy expression using a whitelist.

    Numbers are converted exactly: `0.25` becomes `Rational(1, 4)`, so that exact derivations
    stay exact.  `^` is accepted as a synonym for `**`.

    **Arguments:**

    - `text`: the string, e.g. `"exp(z)"` or `"(x*y - 1)**2/2"`.
    - `variables`: the allowed variable names (each becomes a real `sympy.Symbol`), or a mapping
      from names to the symbols to use.
    - `functions`: allowed function names; defaults to
      [`DEFAULT_FUNCTIONS`][limitlab.theory.DEFAULT_FUNCTIONS].
    - `constants`: allowed constant names; defaults to `pi` and `E`.
    - `argument`: the name of the argument `text` came from, used in error messages.

    **Returns:** the sympy expression.

    **Raises:** `ValueError` naming the offending name or construct, with the allowed ones.

    **Example:**

    ```pycon
    >>> parse_expression("exp(z) + z**2/2", ["z"])
    z**2/2 + exp(z)
    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"{argument} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{argument} is empty")
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"{argument} is longer than {_MAX_LENGTH} characters")
    if isinstance(variables, Mapping):
        symbols = dict(variables)
    else:
        symbols = {name: sp.Symbol(name, real=True) for name in variables}
    functions = DEFAULT_FUNCTIONS if functions is None else functions
    constants = DEFAULT_CONSTANTS if constants is None else constants
    clash = set(symbols) & (set(functions) | set(constants))
    if clash:
        raise ValueError(f"variable names {sorted(clash)} clash with function or constant names")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{argument} {text!r} is not a valid expression: {err.msg}") from None
    return _Translator(symbols, functions, constants, argument, text).visit(tree.body, 0)


class _Translator:
    def __init__(self, symbols, functions, constants, argument, text):
        self.symbols = symbols
        self.functions = functions
        self.constants = constants
        self.argument = argument
        self.text = text

    def _fail(self, what: str) -> ValueError:
        return ValueError(f"{self.argument} {self.text!r}: {what}")

    def visit(self, node: ast.AST, depth: int) -> sp.Expr:
        if depth > _MAX_DEPTH:
            raise self._fail(f"nested deeper than {_MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._fail(f"constant {value!r} is not a number")
            return sp.Integer(value) if isinstance(value, int) else sp.Rational(repr(value))
        if isinstance(node, ast.Name):
            if node.id in self.symbols:
                return self.symbols[node.id]
            if node.id in self.constants:
                return self.constants[node.id]
            allowed = sorted(self.symbols) + sorted(self.constants)
            raise self._fail(f"unknown name {node.id!r}; allowed names are {allowed}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.visit(node.left, depth + 1)
            right = self.visit(node.right, depth + 1)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.visit(node.operand, depth + 1))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise self._fail("only plain function names may be called")
            name = node.func.id
            if name not in self.functions:
                raise self._fail(
                    f"unknown function {name!r}; allowed functions are {sorted(self.functions)}"
                )
            if node.keywords:
                raise self._fail(f"keyword arguments are not allowed (in a call to {name!r})")
            args = [self.visit(arg, depth + 1) for arg in node.args]
            try:
                return self.functions[name](*args)
            except TypeError as err:
                raise self._fail(f"bad arguments to {name!r}: {err}") from None
        raise self._fail(f"{type(node).__name__} is not allowed (only arithmetic, powers, "
                         "numbers, variables and whitelisted functions)")
