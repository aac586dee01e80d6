"""`shoppulse replay` over the shipped sample files gives the reference KPIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoppulse.cli import main
from tests.reference_kpis import kpis_from_csv

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "sample_files").glob("*.csv"))


def replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], dict]:
    out = tmp_path / "kpis.json"
    assert main(["replay", "--kpis-json", str(out), *map(str, SAMPLES)]) == 0
    *outcomes, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert set(summary["summary"]["items_still_held"]) == {"waiting_for_order", "waiting_for_product"}
    for o in outcomes:  # the run that first loaded the same rows, without its (random) version id
        o["duplicate_of"] = o["duplicate_of"] and o["duplicate_of"].split("?")[0]
    return outcomes, json.loads(out.read_text())


def test_replaying_the_sample_files_gives_the_reference_kpis_whatever_the_chunk_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, kpis = replay(tmp_path, capsys)
    assert [o["file"] for o in outcomes] == [p.name for p in SAMPLES]
    statuses = [o["status"] for o in outcomes]
    assert statuses.count("REJECTED") == 1 and set(statuses) == {"SUCCEEDED", "REJECTED"}
    assert sum(o["rejected_rows"] for o in outcomes if o["status"] == "SUCCEEDED") > 0
    assert sum(o["held_rows"] for o in outcomes) > 0
    copies = {o["file"]: o["duplicate_of"] for o in outcomes if o["duplicate_of"]}
    assert copies == {"2025-03-03T1200_items_resend.csv": "s3://shoppulse-input/incoming/2025-03-01T1805_items.csv"}
    assert kpis == kpis_from_csv(SAMPLES)
    # Huge files are loaded a chunk at a time (bounded memory): chunking changes no outcome.
    monkeypatch.setattr("containers.transformation.pipeline.FLUSH_ROWS", 40)
    assert replay(tmp_path, capsys) == (outcomes, kpis)


def test_replay_reports_missing_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "no-such-file.csv"]) == 2
    assert "no such file" in capsys.readouterr().out
