"""Flow ``batch-recommend``: a model's top 12 for every customer, in Kaggle's submission format."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from flows.publish import RECS, batch
from flows.summary import BatchFacts
from recsys.settings import Settings


@task(name="write submission")
def submission_task(settings: Settings, recs_dir: str, out: str | None) -> dict:
    """The batch's recommendations as ``customer_id,prediction`` (Kaggle's hex ids) -> a CSV;
    formatted a customer chunk a task on ``HM_DASK``'s cluster."""
    import pandas as pd

    from flows.cluster import chunk_runner
    from recsys import schema
    from recsys.data.lake import Lake
    from recsys.ranking.submission import (
        submission_frame,
        write_submission,
        write_submission_in_parts,
    )

    folder = Path(recs_dir)
    cutoff = (folder / "cutoff.txt").read_text().strip()
    target = Path(out) if out else settings.paths.submissions / f"{cutoff}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = [schema.CUSTOMER_ID, schema.CUSTOMER_HEX]
    customers = Lake(settings.paths.lake).read(schema.CUSTOMERS, columns).to_pandas()
    recs = pd.read_parquet(folder / RECS)
    if settings.dask:
        with chunk_runner(settings) as where:
            rows = write_submission_in_parts(
                recs, customers, target, where, settings.batch_customers
            )
        return {"path": str(target), "cutoff": cutoff, "rows": rows}
    frame = submission_frame(recs, customers)
    return {"path": str(write_submission(frame, target)), "cutoff": cutoff, "rows": len(frame)}


@flow(name="batch-recommend", log_prints=True, validate_parameters=False)
def batch_recommend(
    settings: Settings,
    version: str,
    out: str | None = None,
    progress: bool = False,
) -> BatchFacts:
    """Model ``version``'s recommendations for every customer (cached: the publish step has
    usually ranked the champion already), written as a submission."""
    recs, _ = batch(settings, version, progress)
    written = submission_task(settings, str(recs), out)
    return BatchFacts(version=version, **written)
