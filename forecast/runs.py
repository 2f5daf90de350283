"""Run folders: write a complete run atomically, find and read runs back.

A run is written into a hidden temporary folder beside its destination and
renamed into place only when every file is complete, so an interrupted run
leaves no folder that looks like a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from forecast import __version__
from forecast.errors import InputError
from forecast.priors import Scenario, sha256_file
from forecast.simulate import PATHS_PER_BLOCK, Draws

MANIFEST = "manifest.json"
DRAWS_FILE = "draws.nc"
RUN_FILES = (
    MANIFEST,
    "summary.csv",
    "breakeven.csv",
    "breakeven_month.csv",
    "annual.csv",
    "headline.csv",
)


def package_versions() -> dict[str, str]:
    """Return the versions of the packages that produce a run's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"forecast": __version__}
    for name in ("pymc", "pytensor", "arviz", "numpy", "scipy", "pandas", "xarray"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def copy_priors(scenario: Scenario, folder: Path) -> dict[str, str]:
    """Copy the scenario's priors files into ``folder/priors`` and return their SHA-256.

    The copies make a run self-contained: its report and any rerun read the
    priors exactly as they were, even after the originals change.
    """
    target = folder / "priors"
    copies = {}
    for path in scenario.files:
        relative = (
            Path("scenarios", path.name) if path.parent.name == "scenarios" else Path(path.name)
        )
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
        copies[str(Path("priors") / relative)] = sha256_file(target / relative)
    return copies


def build_manifest(
    scenario: Scenario, draws: Draws, *, command: list[str] | None = None, **extra: object
) -> dict[str, object]:
    """Describe a run so it can be reproduced: inputs, seed, sizes, versions."""
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "priors_files": {str(path): sha256_file(path) for path in scenario.files},
        "seed": draws.seed,
        "draws": draws.paths,
        "paths_per_block": PATHS_PER_BLOCK,
        "horizon": {
            "start": draws.months[0],
            "end": draws.months[-1],
            "months": len(draws.months),
        },
        "stresses": {
            name: {"low": band.low, "high": band.high, "value": band.value}
            for name, band in draws.stresses.items()
        },
        "versions": package_versions(),
        "command": command if command is not None else sys.argv,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def new_run_name(scenario: str, runs_dir: Path) -> str:
    """Return ``<UTC timestamp>-<scenario>``, with a suffix if that name is taken."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in scenario)[:60]
    base = f"{stamp}-{safe}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    counter = 1
    while True:
        name = base if counter == 1 else f"{base}-{counter}"
        counter += 1
        if (runs_dir / name).exists():
            continue
        # An exclusive lock file reserves the name, so two processes started in the
        # same second cannot both take it; staged_folder removes it at the end.
        try:
            os.close(os.open(runs_dir / f".{name}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return name


@contextlib.contextmanager
def staged_folder(
    destination: Path, *, overwrite: bool = False, key: str = "--out"
) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``destination`` only on success.

    On any exception, including ``KeyboardInterrupt``, the temporary folder is
    removed and ``destination`` is left as it was. ``key`` names the option that
    chose the folder, for error messages.
    """
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise InputError(
            "output folder already exists",
            key=key,
            value=str(destination),
            fix="Choose a new folder, or pass --overwrite to replace it",
        )
    if destination.exists():
        check_replaceable(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # NOTE: a SIGKILLed run leaves this hidden folder (gigabytes for a large run) and
    # its lock file behind, and nothing removes them later.
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield staging
        _fsync_tree(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; a run folder is not.
        if destination.exists():
            trash = Path(
                tempfile.mkdtemp(prefix=f".{destination.name}.old.", dir=destination.parent)
            )
            os.replace(destination, trash / destination.name)
            os.replace(staging, destination)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, destination)
    except BaseException:
        # A second Ctrl-C in quick succession must not stop the cleanup halfway.
        with signals_deferred():
            shutil.rmtree(staging, ignore_errors=True)
            (destination.parent / f".{destination.name}.lock").unlink(missing_ok=True)
        raise
    finally:
        (destination.parent / f".{destination.name}.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first one received.

    Only the main thread can set signal handlers; elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        number: signal.signal(number, lambda number, frame: received.append(number))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            signal.raise_signal(received[0])


WRITTEN_MARKERS = (MANIFEST, "report.html", "compare.html")
"""Files that mark a folder as one this tool wrote, and so may replace."""


def check_replaceable(destination: Path) -> None:
    """Reject replacing anything but an empty folder or one this tool wrote.

    ``--overwrite`` must never delete a folder of user files, the runs folder
    itself, or the working folder and its parents.
    """
    resolved = destination.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise InputError(
            "cannot replace the working folder or a folder that contains it",
            key="--out",
            value=str(destination),
            fix="Give a new subfolder, for example --out runs/my-run",
        )
    if not destination.is_dir():
        raise InputError(
            "output path exists and is not a folder",
            key="--out",
            value=str(destination),
            fix="Choose a folder path that does not exist yet",
        )
    written = any((destination / marker).is_file() for marker in WRITTEN_MARKERS)
    if not written and any(destination.iterdir()):
        raise InputError(
            "output folder is not one this tool wrote, so --overwrite will not delete it",
            key="--out",
            value=str(destination),
            fix="Choose a new folder, or empty this one first",
        )


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def file_hashes(folder: Path, names: list[str]) -> dict[str, str]:
    """Return the SHA-256 of each named file in ``folder`` that exists."""
    return {name: sha256_file(folder / name) for name in names if (folder / name).is_file()}


def write_json(path: Path, document: object) -> None:
    """Write JSON with sorted keys and a final newline."""
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def write_draws(path: Path, draws: Draws) -> None:
    """Store the draws as netCDF that ArviZ opens: group ``prior``, dims (chain, draw, month).

    Metrics are stored as float32 with compression: seven significant digits are
    more than any figure in a report, and it halves the file. Summaries are
    computed from the float64 draws in memory, not from this file.
    """
    import arviz as az

    data = {
        name: values[None, ...].astype(np.float32, copy=False)
        for name, values in draws.metrics.items()
    }
    data.update({f"prior_{name}": values[None, :] for name, values in draws.inputs.items()})
    tree = az.from_dict(
        {"prior": data},
        dims={name: ["month"] for name in draws.metrics},
        coords={"month": np.array(draws.months)},
    )
    encoding = {name: {"zlib": True, "complevel": 4} for name in data}
    tree.to_netcdf(path, engine="h5netcdf", encoding={"/prior": encoding})


def open_draws(run: Path):
    """Open a run's ``draws.nc`` (group ``prior``) after checking it against the manifest.

    Raises
    ------
    InputError
        If the file is missing, does not match its SHA-256, or cannot be read.
    """
    import arviz as az

    path = Path(run) / DRAWS_FILE
    if not path.is_file():
        raise InputError(
            "run has no stored draws",
            file=path,
            fix="Run the scenario again without --no-keep-draws",
        )
    check_run(Path(run), check_draws_file=True)
    try:
        return az.from_netcdf(path)["prior"]
    except (OSError, ValueError, KeyError) as error:
        raise InputError(
            f"failed to read the run's draws: {error}",
            file=path,
            fix="Run the scenario again; the run folder is damaged",
        ) from None


def resolve_run(reference: str | Path, runs_dir: Path) -> Path:
    """Find a run by id or path, refusing anything outside ``runs_dir``.

    Raises
    ------
    InputError
        If no such run exists, the path leaves ``runs_dir``, or the folder is not
        a complete run.
    """
    runs_dir = Path(runs_dir).resolve()
    candidate = Path(reference)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = runs_dir / candidate
    candidate = candidate.resolve()
    if runs_dir not in candidate.parents:
        raise InputError(
            "run path is outside the runs folder",
            key="RUN",
            value=str(reference),
            fix=f"Give a run id listed by `forecast runs list` (runs folder: {runs_dir})",
        )
    if not candidate.is_dir():
        raise InputError(
            "run not found",
            key="RUN",
            value=str(reference),
            fix="Run `forecast runs list` to see the available run ids",
        )
    check_run(candidate)
    return candidate


def check_run(run: Path, *, check_draws_file: bool = False) -> dict[str, object]:
    """Check a run folder before reading it; return its manifest.

    Every file the manifest lists must match its SHA-256; ``draws.nc`` only when
    ``check_draws_file`` is set, since hashing it costs a second per gigabyte.

    Raises
    ------
    InputError
        Naming the file that is missing, empty, unreadable or whose SHA-256 does not
        match the manifest.
    """
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    if missing:
        raise InputError(
            "run folder is incomplete: missing " + ", ".join(missing),
            file=run,
            fix="Run the scenario again; an interrupted run cannot be repaired",
        )
    manifest = read_manifest(run)
    for name in RUN_FILES[1:]:
        lines = (run / name).read_text().splitlines()
        if len(lines) < 2 or any(line.count(",") != lines[0].count(",") for line in lines):
            raise InputError(
                "file is truncated or malformed",
                file=run / name,
                fix="Run the scenario again; the run folder is damaged",
            )
    hashes = manifest.get("files", {})
    if not isinstance(hashes, dict):
        raise InputError("files must be a table of SHA-256 digests", file=run / MANIFEST)
    if not check_draws_file:
        hashes = {name: digest for name, digest in hashes.items() if not name.endswith(".nc")}
    _check_hashes(
        run,
        hashes,
        missing="run file is missing, truncated or edited (SHA-256 differs from the manifest)",
        changed="run file is missing, truncated or edited (SHA-256 differs from the manifest)",
    )
    copies = manifest.get("priors_copies", {})
    if not isinstance(copies, dict):
        raise InputError("priors_copies must be a table", file=run / MANIFEST)
    _check_hashes(
        run,
        copies,
        missing="priors copy named in the manifest is missing",
        changed="priors file does not match the SHA-256 in the manifest",
    )
    return manifest


def _check_hashes(run: Path, digests: dict, *, missing: str, changed: str) -> None:
    """Raise unless each file named relative to ``run`` exists with its recorded SHA-256."""
    for relative, digest in digests.items():
        path = run / relative
        if not path.is_file():
            raise InputError(
                missing, file=path, fix="Run the scenario again; the run folder is damaged"
            )
        if sha256_file(path) != digest:
            raise InputError(changed, file=path, fix="Restore the file or run the scenario again")


def read_manifest(run: Path) -> dict[str, object]:
    """Read a run's manifest, reporting a truncated or invalid file clearly."""
    path = Path(run) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot read run manifest: {error}",
            file=path,
            fix="Run the scenario again; the run folder is damaged",
        ) from None
    if not isinstance(manifest, dict):
        raise InputError(
            "run manifest is not a JSON object",
            file=path,
            fix="Run the scenario again; the run folder is damaged",
        )
    return manifest
