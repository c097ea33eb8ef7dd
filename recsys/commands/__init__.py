"""What each `hm` command does and prints; ``recsys.cli`` only declares the options."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from recsys.settings import Settings

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def user_errors() -> tuple[type[Exception], ...]:
    """The errors about the user's data or state that deserve a message, not a traceback."""
    from recsys.data.errors import RawDataError, ValidationFailed
    from recsys.data.lake import LakeEmptyError
    from recsys.features.snapshots import SnapshotError
    from recsys.home_lock import HomeBusy
    from recsys.ranking.min_history import NotEnoughHistory
    from serving.model import NotPublished

    data = (RawDataError, ValidationFailed, SnapshotError, NotEnoughHistory)
    return (*data, LakeEmptyError, NotPublished, HomeBusy)


class _NoUserTracebacks(logging.Filter):
    """Drop the traceback of a user error from console logs (the CLI prints the error once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], user_errors()):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_user_tracebacks() -> None:
    """Keep Prefect's console log of a failed run to one line per user error (the Prefect
    server's run logs keep the traceback)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoUserTracebacks) for f in handler.filters):
            handler.addFilter(_NoUserTracebacks())


@contextmanager
def writing(settings: Settings) -> Iterator[None]:
    """Hold the project home's writer lock (one writer per home) for the block."""
    from recsys.home_lock import HomeBusy, writer

    def waiting(busy: HomeBusy) -> None:
        err.print(
            f"{busy}; waiting for it to finish (HM_BUSY=fail stops instead)",
            markup=False,
            soft_wrap=True,
        )

    with writer(settings, on_wait=waiting):
        yield


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn data errors into a clear message on stderr and exit code 1 (no traceback); a busy
    home exits 2."""
    from recsys.data.errors import RawDataError, ValidationFailed
    from recsys.data.lake import LakeEmptyError
    from recsys.features.snapshots import SnapshotError
    from recsys.home_lock import HomeBusy
    from recsys.ranking.min_history import NotEnoughHistory
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
    except HomeBusy as e:
        err.print("[bold red]error:[/] ", end="")
        err.print(f"{e}; nothing was written (HM_BUSY=wait waits instead)", markup=False)
        raise typer.Exit(2) from None
    except NotEnoughHistory as e:
        raise _fail(str(e), "nothing was trained; the champion stays as it was.") from None
    except (LakeEmptyError, NotPublished) as e:
        raise _fail(str(e)) from None


def _fail(message: str, consequence: str | None = None) -> typer.Exit:
    """Print an error (and what it left untouched) on stderr; the exit to raise."""
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False, soft_wrap=True)
    if consequence:
        err.print(consequence)
    return typer.Exit(1)
