"""Every file in tests/invalid is rejected by `forecast run` with one clear line and exit 2.

Each file is used as scenario ``bad`` in a copy of the shipped priors; its first line
``# expect: TEXT`` gives a fragment the error message must contain.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli import app

REPO = Path(__file__).resolve().parent.parent
CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.toml"))
runner = CliRunner()


def expected_fragment(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_invalid_scenario_rejected(path, tmp_path, monkeypatch):
    priors = tmp_path / "priors"
    shutil.copytree(REPO / "priors", priors)
    shutil.copy(path, priors / "scenarios" / "bad.toml")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)

    result = runner.invoke(
        app, ["run", "--scenario", "bad", "--priors", str(priors), "--draws", "50", "--seed", "1"]
    )

    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected_fragment(path) in lines[0]
    assert "bad.toml" in lines[0] or "base.toml" in lines[0]
    assert lines[0].startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_corpus_is_not_empty():
    assert len(CORPUS) >= 25
