"""One Prefect test server per session (it takes seconds to start), and a flow-ready home."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY_RUN = {"HM_TRAIN_WEEKS": "2", "HM_CANDIDATES": "60", "HM_THREADS": "1"}


@pytest.fixture(scope="module")
def flow_home(
    tmp_path_factory: pytest.TempPathFactory, published_home: Path, prefect_server: None
) -> Iterator[Path]:
    """A private copy of the tiny home; flows read it (and small-run settings) from HM_*."""
    home = tmp_path_factory.mktemp("flows") / "home"
    shutil.copytree(published_home, home)
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("HM_")]:
            patch.delenv(name)
        patch.setenv("HM_HOME", str(home))
        for name, value in TINY_RUN.items():
            patch.setenv(name, value)
        yield home
