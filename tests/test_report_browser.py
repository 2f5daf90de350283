"""The report page in a real headless browser: loads cleanly, every chart visible.

Uses Debian's ``chromium`` package; skipped with the reason shown when it is not
installed. The test loads a copy of the page with one probe script appended,
because the report itself has no scripts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from forecast.report.build import write_report

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
)
PROBE = """<script>
window.addEventListener("load", () => {
  const found = [...document.images].map((image) => ({
    alt: image.alt,
    width: image.naturalWidth,
    height: image.getBoundingClientRect().height,
  }));
  document.body.setAttribute("data-probe", JSON.stringify(found));
});
</script>"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install -y chromium); browser checks not run",
)


class _ProbeReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.probe: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.probe = dict(attrs).get("data-probe")


def run_chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report_page(report_runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports_dir = tmp_path_factory.mktemp("browser_reports")
    result = write_report("base", runs_dir=report_runs.runs_dir, reports_dir=reports_dir)
    return result.path / "report.html"


@pytest.fixture(scope="module")
def probed_page(report_page: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("browser")
    page = folder / "probed.html"
    page.write_text(report_page.read_text().replace("</body>", PROBE + "</body>"))
    done = run_chromium(page.as_uri(), folder / "profile", "--dump-dom")
    reader = _ProbeReader()
    reader.feed(done.stdout)
    return done, json.loads(reader.probe or "[]")


def test_browser_loads_without_console_errors(report_page: Path, tmp_path: Path) -> None:
    done = run_chromium(report_page.as_uri(), tmp_path / "profile", "--dump-dom")
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    assert done.returncode == 0
    assert console == []


def test_browser_shows_every_chart(probed_page) -> None:
    done, images = probed_page
    assert done.returncode == 0
    assert len(images) == 7
    for image in images:
        assert image["width"] > 0, image["alt"]
        assert image["height"] > 100, image["alt"]


def test_browser_console_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "noisy.html"
    page.write_text("<html><body><script>console.error('boom')</script></body></html>")
    done = run_chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    assert len(console) == 1


def test_browser_screenshot_kept(report_page: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    done = run_chromium(
        report_page.as_uri(),
        tmp_path / "profile",
        "--window-size=1280,6000",
        f"--screenshot={shot}",
    )
    assert done.returncode == 0
    assert shot.stat().st_size > 10_000


def test_browser_shows_compare_charts(report_runs, tmp_path: Path) -> None:
    from forecast.report.compare import write_comparison

    result = write_comparison(
        ["base", "optimistic"], runs_dir=report_runs.runs_dir, reports_dir=tmp_path
    )
    page = tmp_path / "probed.html"
    page.write_text(
        (result.path / "compare.html").read_text().replace("</body>", PROBE + "</body>")
    )
    done = run_chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    reader = _ProbeReader()
    reader.feed(done.stdout)
    images = json.loads(reader.probe or "[]")
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    assert console == []
    assert len(images) == 4
    for image in images:
        assert image["width"] > 0, image["alt"]
