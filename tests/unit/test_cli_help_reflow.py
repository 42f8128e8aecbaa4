"""Help text reflows to the terminal instead of keeping the docstring's source line breaks."""

from __future__ import annotations

from typer.testing import CliRunner

from tocsin.cli import app


def _serve_summary_lines(columns: int) -> int:
    """How many lines `serve`'s summary takes in the command list of `tocsin --help`."""
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "Serve the API" in line)
    end = next(i for i, line in enumerate(lines) if "--no-engine." in line)
    return end - start + 1


def test_a_summary_reflows_to_the_terminal_width() -> None:
    # The docstring breaks after "the public" in the source; a wide terminal shows it whole.
    assert _serve_summary_lines(200) == 1
    assert _serve_summary_lines(70) > 2
