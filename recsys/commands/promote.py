"""`hm promote`: make a version champion by hand (the loop's gate does it every week)."""

from __future__ import annotations

import typer

from recsys.commands import console, err, friendly_errors
from recsys.settings import Settings


def run_promote(settings: Settings, version: str | None, force: bool) -> None:
    """Move ``champion`` to the challenger (or ``version``) if it beats the champion."""
    from recsys import registry

    with friendly_errors():
        target = version or getattr(
            registry.version_by_alias(settings, "challenger"), "version", None
        )
        if target is None:
            err.print("[bold red]error:[/] no challenger: run `hm retrain` first")
            raise typer.Exit(1)
        decision = registry.promotion_decision(settings, str(target))
    if decision.promote or force:
        from flows.publish import promote

        with friendly_errors():
            candidates, answers = promote(settings, str(target))
        console.print(
            f"hm-ranker version {target} is champion ({decision.reason}"
            f"{'; forced' if force and not decision.promote else ''}); published "
            f"{candidates:,} customers' candidates, {answers:,} answers ranked ahead"
        )
        return
    err.print(f"not promoted: {decision.reason} (use --force to override)")
    raise typer.Exit(1)
