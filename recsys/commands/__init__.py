"""What each `hm` command does and prints; ``recsys.cli`` only declares the options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn data errors into a clear message on stderr and exit code 1 (no traceback)."""
    from recsys.data.errors import RawDataError, ValidationFailed
    from recsys.data.lake import LakeEmptyError
    from recsys.features.snapshots import SnapshotError
    from serving.model import NotPublished

    try:
        yield
    except RawDataError as e:
        raise _fail(str(e), "nothing was written; the lake keeps its previous version.") from None
    except ValidationFailed as e:
        err.print(e.report.summary(), markup=False, soft_wrap=True)
        err.print(e.report.describe_failures(), markup=False, soft_wrap=True)
        err.print(f"[bold red]{e.message}[/]")
        raise typer.Exit(1) from None
    except SnapshotError as e:
        raise _fail(str(e), "nothing was written; the online store keeps its values.") from None
    except (LakeEmptyError, NotPublished) as e:
        raise _fail(str(e)) from None


def _fail(message: str, consequence: str | None = None) -> typer.Exit:
    """Print an error (and what it left untouched) on stderr; the exit to raise."""
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False, soft_wrap=True)
    if consequence:
        err.print(consequence)
    return typer.Exit(1)
