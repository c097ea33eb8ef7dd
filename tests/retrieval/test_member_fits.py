"""A union's members fitted side by side equal members fitted in turn; the heavy one runs apart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.retrieval.base import REGISTRY, Retriever, empty_candidates
from recsys.retrieval.config import RetrieverConfig
from recsys.retrieval.evaluate import fit_union
from recsys.retrieval.history import History
from recsys.retrieval.member_fits import fit_groups, fit_members
from recsys.retrieval.sources import DEFAULT_SOURCES, SourceSpec, parse_sources


@dataclass(frozen=True)
class ProbeConfig(RetrieverConfig):
    """Parameters of :class:`ProbeRetriever`."""

    fail: bool = False  # raise while fitting


class ProbeRetriever(Retriever, config=ProbeConfig):
    """Remembers the process that fitted it; proposes nothing (registered only by ``probe``)."""

    kind = "test_probe"

    fit_weight = 100.0

    def _fit(self, history: History) -> None:
        if self.config.fail:
            raise RuntimeError(f"probe refused the history before {history.cutoff}")
        self.fitted_by = os.getpid()

    def _retrieve(self, customers: np.ndarray, k: int, context: np.ndarray) -> pd.DataFrame:
        return empty_candidates(self.name)

    def _save_state(self, path: Path) -> None:
        (path / "pid.txt").write_text(str(self.fitted_by))

    def _load_state(self, path: Path) -> None:
        self.fitted_by = int((path / "pid.txt").read_text())


@pytest.fixture
def probe() -> Iterator[str]:
    """The probe's kind, registered for one test."""
    REGISTRY[ProbeRetriever.kind] = ProbeRetriever
    yield ProbeRetriever.kind
    del REGISTRY[ProbeRetriever.kind]


def names(groups: list[list[SourceSpec]]) -> list[list[str]]:
    return [[spec.name for spec in group] for group in groups]


def test_the_two_tower_is_dealt_apart_from_every_other_default_source() -> None:
    every = [spec.name for spec in DEFAULT_SOURCES]
    assert names(fit_groups(DEFAULT_SOURCES, 1)) == [every]
    groups = sorted(names(fit_groups(DEFAULT_SOURCES, 2)), key=len)
    assert groups == [["twotower"], [n for n in every if n != "twotower"]]
    assert sorted(map(len, fit_groups(DEFAULT_SOURCES, 50))) == [1] * len(every)


def test_the_heavy_member_is_fitted_in_another_process(history: History, probe: str) -> None:
    specs = parse_sources([{"kind": probe, "quota": 5}, {"kind": "repurchase", "quota": 5}])
    fitted = fit_members(history, specs, workers=2)
    assert list(fitted) == ["test_probe", "repurchase"]
    probe, seconds = fitted["test_probe"]
    assert probe.fitted_by != os.getpid() and probe.cutoff == history.cutoff and seconds >= 0
    assert fit_members(history, specs, workers=1)["test_probe"][0].fitted_by == os.getpid()


def test_a_member_failing_in_a_worker_raises_here(history: History, probe: str) -> None:
    specs = parse_sources(
        [{"kind": probe, "quota": 5, "fail": True}, {"kind": "repurchase", "quota": 5}]
    )
    with pytest.raises(RuntimeError, match="probe refused the history"):
        fit_members(history, specs, workers=2)


def test_a_union_fitted_side_by_side_answers_as_one_fitted_in_turn(history: History) -> None:
    specs = list(DEFAULT_SOURCES)
    apart, apart_s = fit_union(history, specs, workers=2)
    alone, alone_s = fit_union(history, specs, workers=1)
    assert list(apart.members) == list(alone.members) == [s.name for s in specs]
    assert set(apart_s) == set(alone_s) == {s.name for s in specs}
    customers = np.unique(history.transactions[schema.CUSTOMER_ID].to_numpy())[:300]
    customers = np.r_[customers, 10**12]
    pd.testing.assert_frame_equal(apart.retrieve(customers, 100), alone.retrieve(customers, 100))
    for name in apart.members:
        pd.testing.assert_frame_equal(
            apart.members[name].retrieve(customers, 50), alone.members[name].retrieve(customers, 50)
        )


def test_a_union_fitted_on_a_dask_cluster_answers_as_one_fitted_here(
    history: History, cluster
) -> None:
    from recsys.parallel import Parallel

    specs = list(DEFAULT_SOURCES)
    seen: list[str] = []
    remote, remote_s = fit_union(history, specs, workers=Parallel(client=cluster))
    here, _ = fit_union(history, specs, workers=1)
    assert list(remote.members) == [s.name for s in specs] and set(remote_s) == set(remote.members)
    fit_members(history, specs[:2], Parallel(client=cluster), done=seen.append)
    assert seen == [s.name for s in specs[:2]]
    customers = np.r_[np.unique(history.transactions[schema.CUSTOMER_ID].to_numpy())[:300], 10**12]
    pd.testing.assert_frame_equal(remote.retrieve(customers, 100), here.retrieve(customers, 100))
    for name in remote.members:
        pd.testing.assert_frame_equal(
            remote.members[name].retrieve(customers, 50), here.members[name].retrieve(customers, 50)
        )
