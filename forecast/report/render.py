"""Render report pages: HTML through jinja2 (autoescaped), PDF pages and the Excel workbook."""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

TEMPLATES = Path(__file__).parent / "templates"
# 32 lines of 11 pt at 1.5 spacing (528 pt) fit between the heading and the bottom
# margin of a 9-inch (648 pt) page; 40 ran past the edge.
PDF_LINES_PER_PAGE = 32
PDF_COLUMNS = 150


@dataclass(frozen=True)
class Chart:
    """One chart as the HTML page embeds it: base64 SVG plus its title and caption."""

    name: str
    title: str
    caption: str
    data: str

    @classmethod
    def from_svg(cls, name: str, title: str, caption: str, svg: bytes) -> Chart:
        """Wrap SVG bytes for an ``<img src="data:image/svg+xml;base64,...">`` tag."""
        return cls(name, title, caption, base64.b64encode(svg).decode("ascii"))


def render_html(template: str, **context: object) -> str:
    """Render a template from ``templates/`` with every value HTML-escaped."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template(template).render(**context)


def pdf_document(path: Path):
    """Open a PDF of pages, without a creation date so the same run gives the same file."""
    from matplotlib.backends.backend_pdf import PdfPages

    return PdfPages(path, metadata={"CreationDate": None, "Creator": "forecast report"})


def add_text_pages(pdf, title: str, lines: Sequence[str]) -> None:
    """Add ``lines`` to ``pdf`` as monospaced text, wrapped and split over 16:9 pages."""
    from forecast.report.figures import SLIDE_INCHES, pyplot

    plt = pyplot()
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, PDF_COLUMNS, subsequent_indent="    ") or [""])
    pages = [
        wrapped[start : start + PDF_LINES_PER_PAGE]
        for start in range(0, max(len(wrapped), 1), PDF_LINES_PER_PAGE)
    ]
    for number, page in enumerate(pages, start=1):
        fig = plt.figure(figsize=SLIDE_INCHES)
        heading = title if len(pages) == 1 else f"{title} ({number}/{len(pages)})"
        fig.text(0.04, 0.95, heading, fontsize=22, weight="bold", va="top", parse_math=False)
        fig.text(
            0.04,
            0.88,
            "\n".join(page),
            fontsize=11,
            family="monospace",
            va="top",
            linespacing=1.5,
            parse_math=False,
        )
        pdf.savefig(fig)
        plt.close(fig)


def frame_lines(frame: pd.DataFrame) -> list[str]:
    """Format a table as aligned text lines for a PDF page.

    A table too wide for the page is written one record at a time instead, as
    ``column: value`` lines, so no row is broken across lines mid-cell.
    """
    lines = frame.to_string(index=False).splitlines()
    if max(map(len, lines), default=0) <= PDF_COLUMNS:
        return lines
    records = []
    for row in frame.itertuples(index=False):
        for column, cell in zip(frame.columns, row, strict=True):
            records.append(f"{column}: {cell}")
        records.append("")
    return records


def write_workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """Write one sheet per table with openpyxl, column headers in the first row."""
    # NOTE: openpyxl stamps the save time into the workbook's properties, so two
    # regenerations differ in bytes although every cell value is the same.
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
