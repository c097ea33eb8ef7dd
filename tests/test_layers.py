"""The layers hold by test: import contracts (pyproject ``[tool.importlinter]``) and settings
passed as an object.

The CLI sits on the loop (``flows``), the loop on serving and the library, serving on the
library; the library imports none of them, the online path imports no offline step, and no two
modules of a package import each other in a circle.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recsys", "flows", "serving")
LINT = str(Path(sys.executable).parent / "lint-imports")
# Where a process starts and reads its settings from the HM_* environment, and why.
ENTRY_POINTS = {
    "flows/weekly.py": "a scheduled run's settings default to its worker's environment",
    "serving/api.py": "each uvicorn worker process builds its settings at start-up",
    "recsys/cli.py": "the command line reads the environment once",
    "recsys/ranking/mlflow_model.py": "MLflow loads the pyfunc in a process of its own",
    "recsys/commands/serving.py": "hands the home to uvicorn's worker processes",
}


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``root`` with its pyproject's contracts."""
    return subprocess.run(
        [LINT, "--no-cache", "--config", "pyproject.toml"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_import_contracts_hold() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "4 kept, 0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The three packages and the contracts in a scratch folder, free to be broken."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("recsys/ranking/batch.py", "import serving.api", "The library imports neither"),
        ("recsys/retrieval/union.py", "import prefect", "The library imports neither"),
        ("serving/model.py", "import recsys.ranking.batch", "The online path imports no"),
        ("serving/rules.py", "import serving.recommender", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(copy: Path, module: str, line: str, contract: str):
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint(copy)
    assert result.returncode == 1
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(b.startswith(contract) for b in broken), result.stdout[-3000:]


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that build settings from the environment or read ``os.environ``/``os.getenv``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
            "get_settings",
            "Settings",
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            lines.append(node.lineno)
    return lines


def test_settings_travel_as_an_object_not_through_the_environment() -> None:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            lines = _reads_environment(ast.parse(path.read_text()))
            if lines and name not in ENTRY_POINTS and not name.startswith("recsys/commands/"):
                found[name] = lines
    allowed = {  # third-party switches, not the platform's settings
        "recsys/retrieval/encoders/pretrained.py",  # HF_HUB_OFFLINE for the text model
        "recsys/validation/runner.py",  # GX_ANALYTICS_ENABLED
        "recsys/tracking.py",  # MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
        "recsys/settings.py",  # defines get_settings
    }
    assert set(found) <= allowed, {k: v for k, v in found.items() if k not in allowed}
