"""The code key of a fit covers what retrieval runs, and nothing else of the package."""

from __future__ import annotations

import shutil
from pathlib import Path

from recsys.retrieval import code_digest
from recsys.retrieval.code_digest import PACKAGE, code_fingerprint, fit_sources


def test_fit_sources_are_retrieval_and_what_it_imports() -> None:
    """Retrieval's modules, the ones they import (also inside functions) and their packages'
    ``__init__``; not the feature store's writers, the ranker or the flows."""
    names = {str(p.relative_to(PACKAGE)) for p in fit_sources()}
    assert {"retrieval/union.py", "retrieval/twotower.py", "retrieval/member_fits.py"} <= names
    assert {"schema.py", "forked.py", "data/lake.py", "data/__init__.py", "__init__.py"} <= names
    assert not {"features/materialize.py", "ranking/batch.py", "settings.py"} & names
    assert not any(n.startswith(("ranking/", "commands/")) for n in names)


def test_an_edit_outside_the_fit_keeps_the_key_one_inside_changes_it(tmp_path: Path) -> None:
    """Over a copy of the package: editing the feature store's writer keeps the key; editing a
    module retrieval imports (the lake, read by ``load_history``) changes it."""
    root = tmp_path / "recsys"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    key = code_fingerprint(root)
    assert code_fingerprint.__wrapped__(root) == key  # stable
    with (root / "features" / "materialize.py").open("a") as f:
        f.write("\n# an edit outside the fit\n")
    assert code_digest.code_fingerprint.__wrapped__(root) == key
    with (root / "data" / "lake.py").open("a") as f:
        f.write("\n# an edit inside it\n")
    assert code_digest.code_fingerprint.__wrapped__(root) != key


def test_imports_inside_functions_and_relative_ones_count(tmp_path: Path) -> None:
    """A module imported only inside a function, or relatively, is a fit source; a module no
    fit source imports is not."""
    root = tmp_path / "recsys"
    files = {
        "__init__.py": "",
        "retrieval/__init__.py": "",
        "retrieval/a.py": "def f():\n    from recsys.x import y\n    return y\n",
        "retrieval/b.py": "from . import a\nfrom ..w import v\n",
        "x.py": "y = 1\n",
        "w.py": "v = 2\n",
        "unused.py": "z = 3\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    got = {str(p.relative_to(root)) for p in fit_sources(root)}
    assert got == set(files) - {"unused.py"}


def test_a_parse_broken_by_another_thread_is_tried_again(monkeypatch) -> None:
    import ast

    from recsys.retrieval import code_digest

    real, calls = ast.parse, []

    def flaky(source: bytes) -> ast.Module:
        calls.append(1)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=63, after=80)")
        return real(source)

    monkeypatch.setattr(code_digest.ast, "parse", flaky)
    assert isinstance(code_digest.parsed(b"import os"), ast.Module) and len(calls) == 2
