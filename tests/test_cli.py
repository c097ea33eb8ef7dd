"""The `hm` CLI end to end on the tiny world: generate -> ingest -> validate -> lake."""

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from recsys import schema
from recsys.cli import app
from recsys.data.lake import Lake

runner = CliRunner()


def hm(*args: str, home) -> object:
    return runner.invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "recsys.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("generate", "ingest", "validate", "lake", "run"):
        assert command in out


def test_generate_ingest_validate_lake(tmp_path):
    home, raw = tmp_path / "home", tmp_path / "raw"
    result = hm("generate", "--scale", "tiny", "--seed", "3", "--out", str(raw), "-q", home=home)
    assert result.exit_code == 0, result.output
    assert all((raw / name).exists() for name in schema.RAW_FILES)

    result = hm("ingest", "--raw", str(raw), "-q", home=home)
    assert result.exit_code == 0, result.output
    assert "version" in result.output and "validation passed" in result.output

    again = hm("ingest", "--raw", str(raw), "-q", home=home)
    assert again.exit_code == 0 and "already holds these files" in again.output

    result = hm("validate", "-q", home=home)
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "Data Docs" in result.output

    result = hm("lake", home=home)
    assert result.exit_code == 0 and "transactions" in result.output


def test_bad_input_exits_1_with_a_clear_message_and_keeps_the_lake(settings, raw_copy):
    path = raw_copy / schema.TRANSACTIONS_FILE
    text = path.read_text().splitlines(keepends=True)
    text[3] = text[3].replace(text[3].split(",")[3], "-1.5")
    path.write_text("".join(text))
    live = (settings.paths.lake / "CURRENT").read_text()
    result = hm("ingest", "--raw", str(raw_copy), "-q", home=settings.home)
    assert result.exit_code == 1
    assert "transactions_train.csv" in result.output and "price" in result.output
    assert (settings.paths.lake / "CURRENT").read_text() == live


def test_validate_raw_is_a_dry_run(settings, tiny_world):
    versions = sorted(p.name for p in (settings.paths.lake / "versions").iterdir())
    result = hm("validate", "--raw", str(tiny_world), "-q", home=settings.home)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (settings.paths.lake / "versions").iterdir()) == versions


def test_missing_raw_dir_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.delenv("HM_RAW", raising=False)
    result = hm("ingest", home=tmp_path)
    assert result.exit_code == 2 and "--raw" in result.output


@pytest.mark.parametrize("scale", ["huge"])
def test_unknown_scale(tmp_path, scale):
    result = hm("generate", "--scale", scale, home=tmp_path)
    assert result.exit_code == 2 and "tiny" in result.output


def test_run_retrains_end_to_end_and_a_rerun_registers_nothing_new(
    tmp_path, tiny_world, prefect_server
):
    from prefect.settings import PREFECT_API_URL

    from recsys import registry
    from tests.conftest import make_settings

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HM_")},
        "HM_HOME": str(tmp_path),
        "HM_TRAIN_WEEKS": "1",
        "HM_CANDIDATES": "40",
        "HM_THREADS": "1",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's test server
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "recsys.cli", "run", "-q", "--raw", str(tiny_world)]
    first = subprocess.run(command, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "promoted to champion" in first.stdout and "hm deploy" in first.stdout
    assert (tmp_path / "submissions" / "2020-09-23.csv").exists()
    second = subprocess.run(command, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    client = registry.client(make_settings(tmp_path))
    assert len(client.search_model_versions(f"name='{registry.MODEL_NAME}'")) == 1


def test_pipeline_then_serve_answers_a_known_customer(tmp_path, tiny_world, prefect_server):
    import httpx
    from prefect.settings import PREFECT_API_URL

    from tests.conftest import hm_serve

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HM_")},
        "HM_HOME": str(tmp_path / "home"),
        "HM_TRAIN_WEEKS": "1",
        "HM_CANDIDATES": "40",
        "HM_THREADS": "1",
        "HM_SERVE_REFRESH_S": "0.5",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's test server
    }
    out = tmp_path / "submission.csv"
    command = [sys.executable, "-m", "recsys.cli", "pipeline", "-q", "--raw-dir", str(tiny_world)]
    done = subprocess.run([*command, "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    known = out.read_text().splitlines()[1].split(",")[0]
    with hm_serve(env) as url:
        health = httpx.get(f"{url}/health").json()
        answer = httpx.get(f"{url}/recommendations/{known}")
    assert health["status"] == "ok" and health["model_version"] == "1"
    assert health["answers_ranked_ahead"] == health["customers_with_candidates"] > 0
    assert answer.status_code == 200 and len(answer.json()["items"]) == 12


def test_features_build_materialize_and_show_agree_with_the_snapshot(settings):
    import pyarrow.parquet as pq

    home = settings.home
    built = hm("features", "build", "--weeks", "2", "-q", home=home)
    assert built.exit_code == 0, built.output
    assert "2020-09-16" in built.output and "2020-09-23" in built.output
    done = hm("features", "materialize", "-q", home=home)
    assert done.exit_code == 0 and "materialized cutoff 2020-09-23" in done.output, done.output

    snapshot = pq.read_table(settings.paths.features / "customer" / "2020-09-23.parquet")
    active = snapshot.filter(snapshot.column("c_n_tx_all").to_numpy() > 0)
    customer = active.column(schema.CUSTOMER_ID)[0].as_py()
    customers = Lake(settings.paths.lake).read(schema.CUSTOMERS).to_pandas()
    hex_id = customers.set_index(schema.CUSTOMER_ID).loc[customer, schema.CUSTOMER_HEX]
    shown = hm("features", "show", hex_id, "-n", "30", home=home)
    assert shown.exit_code == 0, shown.output
    rows = [ln.split("│")[1:4] for ln in shown.output.splitlines() if ln.count("│") == 4]
    assert len(rows) == 30
    assert all(online.strip() == offline.strip() for _, online, offline in rows[1:] or rows)


def test_materialize_of_an_invalid_snapshot_fails_clearly_and_keeps_the_online_store(settings):
    import pyarrow.parquet as pq

    from recsys.features.store import open_store, read_stamp

    home = settings.home
    assert hm("features", "build", "--weeks", "1", "-q", home=home).exit_code == 0
    assert hm("features", "materialize", "-q", home=home).exit_code == 0
    stamp = read_stamp(open_store(settings), settings)
    path = settings.paths.features / "article" / "2020-09-23.parquet"
    assert stamp is not None
    pq.write_table(pq.read_table(path).drop_columns(["a_units_1w"]), path)
    failed = hm("features", "materialize", "-q", home=home)
    assert failed.exit_code == 1
    assert str(path) in " ".join(failed.output.split())
    assert "online store keeps its values" in failed.output
    assert read_stamp(open_store(settings), settings) == stamp
