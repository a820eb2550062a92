"""The messages ``trace_core`` and ``documents`` give people, found for the catalogue: a babel
extraction method (``[tool.babel]`` in ``pyproject.toml``).

The domain raises its messages in English and knows nothing of languages; the portal shows
them through the ``translate`` filter, which finds a fixed message in the catalogue. This
finds those fixed messages where the domain writes them, so the domain needs no markers:

* the text given to a ``DomainError`` (``raise NotFound("No such lot.")``), directly or
  through a module constant (``raise AuthenticationFailed(LOGIN_FAILED)``), and the one a
  subclass gives its base (``super().__init__(LINK_NOT_VALID)``);
* the per-field texts of a ``ValidationFailed`` (``ValidationFailed({"unit": "..."})``) and
  of the ``errors`` dicts the services fill before raising it (``errors["unit"] = "..."``);
* what a ``*_problem``/``*_problems`` function returns (the password policy's verdicts).

Only whole literals are found. A message built with values (an f-string) stays English:
looked up as it is, it is never in the catalogue. ``docs/I18N.md`` says which those are.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import IO, Any

#: ``DomainError`` and its subclasses, by the names the domain raises them with
#: (``tests/portal/test_i18n.py`` checks the list against the classes).
DOMAIN_ERRORS = frozenset(
    {
        "DomainError",
        "NotFound",
        "PermissionDenied",
        "AuthenticationFailed",
        "Conflict",
        "ValidationFailed",
        "TooLarge",
        "LinkNotValid",
        "WrongSecondFactor",
        "LoginThrottled",
        "EpcisRejected",
        "MaterialRefused",
        "GateRejected",
        "ReceiptRefused",
    }
)
#: The name services give the per-field problems they collect before raising.
ERRORS_DICT = "errors"


def _literals(node: ast.expr | None, constants: dict[str, str]) -> Iterator[tuple[int, str]]:
    """The fixed texts ``node`` evaluates to: a string, a module constant, a dict's values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.lineno, node.value
    elif isinstance(node, ast.Name) and node.id in constants:
        yield node.lineno, constants[node.id]
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _literals(value, constants)
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body, constants)
        yield from _literals(node.orelse, constants)


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _found(tree: ast.Module) -> Iterator[tuple[int, str]]:
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in DOMAIN_ERRORS:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and _callee(inner) == "__init__" and inner.args:
                    yield from _literals(inner.args[0], constants)
        elif isinstance(node, ast.Call) and _callee(node) in DOMAIN_ERRORS:
            for argument in [*node.args[:1], *(k.value for k in node.keywords)]:
                yield from _literals(argument, constants)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == ERRORS_DICT
                ):
                    yield from _literals(node.value, constants)
        elif isinstance(node, ast.FunctionDef) and node.name.endswith(("_problem", "_problems")):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return):
                    yield from _literals(inner.value, constants)


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel's extraction interface: (line, function, message, comments) per message."""
    tree = ast.parse(fileobj.read())
    for lineno, message in _found(tree):
        if message.strip():
            yield lineno, None, message, []
