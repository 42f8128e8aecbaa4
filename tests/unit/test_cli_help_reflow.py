"""Help text reflows to the terminal instead of keeping the docstring's source line breaks."""

from __future__ import annotations

from typer.testing import CliRunner

from tocsin.cli import app


def _lines_with(words: tuple[str, ...], columns: int) -> int:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    summary = result.output.split("Options")[0]
    return sum(1 for line in summary.splitlines() if any(word in line for word in words))


def test_serve_help_paragraph_reflows_to_the_terminal_width() -> None:
    # The docstring breaks after "public" in the source; a wide terminal shows one line.
    words = ("Serve the API", "(/status)", "--no-engine")
    assert _lines_with(words, 200) == 1
    assert _lines_with(words, 60) > 1
