"""`python -m sqlsync.local.preview`: the preview endpoint's rendering, from files, for the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlsync.local.preview import main
from testkit import ROOT

EVENT = str(ROOT / "events" / "platform" / "profiles_added.json")
CONFIG = str(ROOT / "examples" / "integrations.yaml")


def test_prints_the_statements_of_the_example_integration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", CONFIG, EVENT]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-- templates.profiles_added (sqlite, batch) for segment.profiles_added\n-- chunk 1: p-1")
    assert "(17, 'c-3-O''Brien', CURRENT_TIMESTAMP)" in out


def test_a_template_file_replaces_the_saved_one_and_json_is_the_api_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = tmp_path / "try.sql"
    sql.write_text('DELETE FROM t WHERE id IN ({batch_in "CustomID"})')
    assert main(["--config", CONFIG, "--template", str(sql), "--json", EVENT]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["template"] == "template"
    assert answer["chunks"][0]["statements"] == [
        "DELETE FROM t WHERE id IN ('c-1', 'c-2', 'c-3-O''Brien', 'c-4\\\"x', 'c-5')"
    ]


def test_errors_name_the_place_and_exit_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = tmp_path / "bad.sql"
    sql.write_text("SELECT {$lead.x")
    assert main(["--config", CONFIG, "--template", str(sql), EVENT]) == 2
    assert "template (line 1, column 16)" in capsys.readouterr().err
    assert main(["--config", CONFIG, "--integration", "nope", EVENT]) == 2
