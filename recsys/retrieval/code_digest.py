"""The code a fit runs: the ``recsys`` modules the retrieval package imports, hashed.

Fitted unions and two-tower anchors are kept keyed on the code that fitted them. Hashing the
whole package would refit every union after any edit (the feature store's, the ranker's); the
retrieval modules and what they import, transitively, top-level or inside functions, are what
a fit can run. Imports are read from the sources (``ast``), nothing is imported.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the recsys package
START = "retrieval"  # the subpackage whose fits are keyed


def module_file(root: Path, module: str) -> Path | None:
    """The source of ``module`` (``recsys.a.b``) under the package ``root``, if it is one."""
    parts = module.split(".")[1:]
    if not parts:
        return root / "__init__.py"
    for path in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if path.is_file():
            return path
    return None


PARSE_TRIES = 3


def parsed(source: bytes) -> ast.Module:
    """``ast.parse(source)``, tried again on CPython 3.11's spurious "AST constructor recursion
    depth mismatch" (gh-106905, fixed in 3.11.8): its counter is shared by every thread, so a
    parse in another thread of the process at the same time breaks this one (it failed a stage
    once on CI)."""
    for _ in range(PARSE_TRIES - 1):
        try:
            return ast.parse(source)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error):
                raise
    return ast.parse(source)


def imported(root: Path, path: Path) -> set[str]:
    """The ``recsys`` module names ``path`` imports (and ``from m import x``'s ``m.x``)."""
    package = [root.name, *path.relative_to(root).parent.parts]
    names: set[str] = set()
    for node in ast.walk(parsed(path.read_bytes())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, ``level - 1`` packages up
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] == root.name}


def fit_sources(root: Path = PACKAGE) -> list[Path]:
    """Every source file a fit can run: ``root/START`` and its imports, transitively, with the
    ``__init__`` of each package on the way."""
    todo = sorted((root / START).rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported(root, path):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # the packages a module import runs
                found = module_file(root, ".".join(parts[:depth]))
                if found is not None and found not in seen:
                    todo.append(found)
    return sorted(seen)


@cache
def code_fingerprint(root: Path = PACKAGE) -> str:
    """A hash of :func:`fit_sources` (paths and bytes): a change to them refits."""
    digest = hashlib.sha256()
    for path in fit_sources(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
