"""The contract every retriever keeps: leakage-free, deterministic, cold-start safe, persistable."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import schema
from recsys.data.lake import Lake
from recsys.retrieval.base import CANDIDATE_COLUMNS, NotFittedError
from recsys.retrieval.history import History, load_history
from recsys.retrieval.registry import create, kinds, load_retriever
from tests.tamper import tamper_after

# Small, fast settings for the tiny world; kinds not listed use their defaults. Every registered
# kind is tested.
TEST_PARAMS: dict[str, dict] = {
    "content": {"encoder": "metadata"},
    "useruser": {"encoder": "metadata"},
    "twotower": {"epochs": 2, "dim": 16},
    "union": {
        "sources": [{"kind": "repurchase", "quota": 20}, {"kind": "popularity", "quota": 40}]
    },
}
KIND_NAMES = kinds()
UNKNOWN_CUSTOMER = 987_654_321_987
UNKNOWN_ARTICLE = 999_999_999


def fitted(kind: str, history: History, **extra):
    """A retriever of ``kind`` fitted on ``history`` with the test parameters."""
    return create(kind, **{**TEST_PARAMS.get(kind, {}), **extra}).fit(history)


def customers_to_ask(history: History, n: int = 60) -> np.ndarray:
    """Recent buyers plus a customer without purchases and an id that does not exist."""
    recent = history.recent(28)[schema.CUSTOMER_ID].unique()[:n]
    silent = np.setdiff1d(
        history.customers[schema.CUSTOMER_ID], history.transactions[schema.CUSTOMER_ID]
    )
    return np.r_[recent, silent[:3], UNKNOWN_CUSTOMER].astype(np.int64)


@pytest.fixture(scope="module", params=KIND_NAMES)
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(kind: str, history: History):
    return fitted(kind, history)


def check_frame(frame: pd.DataFrame, k: int, asked: np.ndarray, catalogue: np.ndarray) -> None:
    """Standard columns and dtypes, <= k per customer, ranks 1..n, unique pairs, known ids."""
    assert list(frame.columns[:5]) == list(CANDIDATE_COLUMNS)
    assert frame[schema.CUSTOMER_ID].dtype == np.int64
    assert frame[schema.ARTICLE_ID].dtype == np.int32
    assert frame[schema.SCORE].dtype == np.float32
    assert not frame.duplicated([schema.CUSTOMER_ID, schema.ARTICLE_ID]).any()
    assert frame[schema.CUSTOMER_ID].isin(asked).all()
    assert frame[schema.ARTICLE_ID].isin(catalogue).all()
    sizes = frame.groupby(schema.CUSTOMER_ID).size()
    assert (sizes <= k).all()
    ranks = frame.groupby(schema.CUSTOMER_ID)[schema.RANK].apply(list)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)


def test_candidates_are_well_formed(model, history: History) -> None:
    asked = customers_to_ask(history)
    frame = model.retrieve(asked, k=25)
    check_frame(frame, 25, asked, history.articles[schema.ARTICLE_ID].to_numpy())
    assert len(frame) > 0
    assert set(frame[schema.SOURCE]) == {model.name}


def test_cold_start_and_unknown_ids_never_raise(model, history: History) -> None:
    silent = np.setdiff1d(
        history.customers[schema.CUSTOMER_ID], history.transactions[schema.CUSTOMER_ID]
    )
    asked = np.r_[silent[:5], UNKNOWN_CUSTOMER].astype(np.int64)
    known = history.transactions[schema.ARTICLE_ID].iloc[-1]
    for context in (None, [UNKNOWN_ARTICLE], [UNKNOWN_ARTICLE, int(known)]):
        frame = model.retrieve(asked, k=10, context=context)
        check_frame(frame, 10, asked, history.articles[schema.ARTICLE_ID].to_numpy())
    assert model.retrieve([], k=10).empty


def test_deterministic_with_a_seed(kind: str, model, history: History) -> None:
    asked = customers_to_ask(history)
    again = fitted(kind, history)
    pd.testing.assert_frame_equal(model.retrieve(asked, k=30), again.retrieve(asked, k=30))


def test_save_load_round_trip(model, history: History, tmp_path: Path) -> None:
    asked = customers_to_ask(history)
    context = [int(history.transactions[schema.ARTICLE_ID].iloc[-1])]
    loaded = load_retriever(model.save(tmp_path / model.name))
    assert loaded.cutoff == model.cutoff
    for ctx in (None, context):
        pd.testing.assert_frame_equal(
            model.retrieve(asked, 30, ctx), loaded.retrieve(asked, 30, ctx)
        )


def test_saved_params_rebuild_the_same_config(model, tmp_path: Path) -> None:
    loaded = load_retriever(model.save(tmp_path / model.name))
    assert loaded.config == model.config
    assert loaded.params() == model.params()


def test_params_are_the_config_fields_and_round_trip(kind: str) -> None:
    retriever = create(kind, name="some_name", **TEST_PARAMS.get(kind, {}))
    params = retriever.params()
    assert list(params) == ["name", *(f.name for f in fields(retriever.config))]
    assert params == {"name": "some_name", **retriever.config.to_params()}
    again = create(kind, **params)
    assert again.params() == params
    assert again.config == retriever.config and again.name == "some_name"
    defaults = create(kind)
    assert defaults.config == type(retriever).config_class()
    assert defaults.name == kind


def test_unfitted_retriever_refuses(kind: str) -> None:
    with pytest.raises(NotFittedError):
        create(kind, **TEST_PARAMS.get(kind, {})).retrieve([1], k=5)


def test_no_leakage_past_the_cutoff(
    kind: str, model, history: History, published_home: Path, cutoff: dt.date, tmp_path: Path
) -> None:
    """Changing anything on or after the cutoff changes no candidate."""
    copy = tmp_path / "home"
    shutil.copytree(published_home, copy)
    tamper_after(copy / "lake", cutoff)
    tampered = load_history(Lake(copy / "lake"), cutoff)
    asked = customers_to_ask(history)
    again = fitted(kind, tampered)
    pd.testing.assert_frame_equal(model.retrieve(asked, k=30), again.retrieve(asked, k=30))


def test_history_refuses_rows_on_or_after_the_cutoff(history: History) -> None:
    with pytest.raises(ValueError, match="on or after its cutoff"):
        History(
            history.cutoff - dt.timedelta(days=1),
            history.transactions,
            history.articles,
            history.customers,
        )
