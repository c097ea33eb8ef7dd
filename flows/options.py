"""How one run of the weekly loop behaves: the options of ``weekly-retrain`` (a flow parameter).

``hm retrain`` and the deployment use the defaults; ``hm pipeline`` is the same flow with
``cache=False`` and ``submission="new"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class RunOptions(BaseModel):
    """Options of one ``weekly-retrain`` run (every field has the scheduled run's default)."""

    cache: bool = Field(True, description="Reuse cached stages (False: recompute every stage).")
    submission: Literal["champion", "new"] = Field(
        "champion",
        description="Which model writes the batch submission: the champion after the gate, or "
        "this run's new model even when it is not promoted.",
    )
    out: Path | None = Field(
        None, description="Submission CSV (default HOME/submissions/<cutoff>.csv)."
    )
    binary: bool = Field(False, description="Also train and compare the binary classifier.")
    progress: bool = Field(False, description="Progress bars on the console.")
