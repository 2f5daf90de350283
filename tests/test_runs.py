"""Run folders: lookups stay inside runs/, damaged runs are reported by file."""

from __future__ import annotations

import re
import shutil

import pytest

from forecast.errors import InputError
from forecast.runs import check_run, new_run_name, resolve_run


@pytest.fixture
def run_copy(small_run, tmp_path):
    """A writable copy of the small run inside its own runs folder."""
    runs = tmp_path / "runs"
    target = runs / small_run.path.name
    shutil.copytree(small_run.path, target)
    return runs, target


def test_resolve_run_by_id(run_copy):
    runs, target = run_copy
    assert resolve_run(target.name, runs) == target.resolve()


def test_resolve_run_outside_runs_rejected(run_copy, tmp_path):
    runs, _ = run_copy
    with pytest.raises(InputError, match="outside the runs folder"):
        resolve_run("../", runs)
    with pytest.raises(InputError, match="outside the runs folder"):
        resolve_run(str(tmp_path), runs)


def test_resolve_missing_run_rejected(run_copy):
    runs, _ = run_copy
    with pytest.raises(InputError, match="run not found"):
        resolve_run("20260101T000000Z-nothing", runs)


def test_run_copies_priors_with_hashes(run_copy):
    _, target = run_copy
    manifest = check_run(target)
    assert set(manifest["priors_copies"]) == {"priors/base.toml", "priors/scenarios/base.toml"}


@pytest.mark.parametrize("name", ["summary.csv", "breakeven.csv", "manifest.json"])
def test_missing_file_named(run_copy, name):
    runs, target = run_copy
    (target / name).unlink()
    with pytest.raises(InputError, match=re.escape(name)):
        resolve_run(target.name, runs)


def test_truncated_csv_named(run_copy):
    _, target = run_copy
    data = (target / "summary.csv").read_text()
    (target / "summary.csv").write_text(data[: len(data) // 2].rsplit(",", 1)[0])
    with pytest.raises(InputError, match=r"summary\.csv"):
        check_run(target)


def test_truncated_manifest_named(run_copy):
    _, target = run_copy
    text = (target / "manifest.json").read_text()
    (target / "manifest.json").write_text(text[:40])
    with pytest.raises(InputError, match=r"manifest\.json"):
        check_run(target)


def test_edited_priors_copy_detected(run_copy):
    _, target = run_copy
    copy = target / "priors" / "base.toml"
    copy.write_text(copy.read_text().replace("0.23, 0.45", "0.10, 0.45"))
    with pytest.raises(InputError, match="does not match the SHA-256"):
        check_run(target)


def test_run_names_distinct_in_same_second(tmp_path):
    first = new_run_name("base", tmp_path)
    (tmp_path / first).mkdir()
    second = new_run_name("base", tmp_path)
    assert second != first
    assert second.startswith(first)


def test_run_name_cannot_escape(tmp_path):
    name = new_run_name("../../etc", tmp_path)
    assert "/" not in name
    assert not name.startswith(".")


def test_run_name_lock_reserves_name(tmp_path):
    first = new_run_name("base", tmp_path)
    second = new_run_name("base", tmp_path)
    assert first != second
    assert (tmp_path / f".{first}.lock").exists()


def test_truncated_headline_named(run_copy):
    _, target = run_copy
    data = (target / "headline.csv").read_text()
    (target / "headline.csv").write_text("\n".join(data.splitlines()[:2]) + "\n")
    with pytest.raises(InputError, match=r"headline\.csv"):
        check_run(target)


def test_edited_number_in_csv_detected(run_copy):
    _, target = run_copy
    table = target / "breakeven.csv"
    lines = table.read_text().splitlines()
    cells = lines[5].split(",")
    cells[1] = "abc"
    lines[5] = ",".join(cells)
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="SHA-256 differs"):
        check_run(target)


def test_truncated_draws_file_named(run_copy):
    from forecast.runs import open_draws

    _, target = run_copy
    draws = target / "draws.nc"
    draws.write_bytes(draws.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"draws\.nc"):
        open_draws(target)


def test_cleanup_survives_second_interrupt(tmp_path, monkeypatch):
    import signal

    from forecast import runs

    removed = []
    real_rmtree = runs.shutil.rmtree

    def rmtree_interrupted(path, **kwargs):
        # A second Ctrl-C arrives while the first one's cleanup runs.
        signal.raise_signal(signal.SIGINT)
        real_rmtree(path, **kwargs)
        removed.append(path)

    monkeypatch.setattr(runs.shutil, "rmtree", rmtree_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with runs.staged_folder(tmp_path / "run") as staging:
            (staging / "part.bin").write_bytes(b"x")
            raise KeyboardInterrupt
    assert removed
    assert list(tmp_path.iterdir()) == []
