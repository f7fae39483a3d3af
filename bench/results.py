"""bench/RESULTS.md: one writer for every benchmark's section.

Each benchmark owns one section between its own start and end markers (HTML comments, so
they do not show when rendered) and replaces only that section, so benchmarks run alone or
by bench/run.py never overwrite each other's numbers.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\nEach section: what was measured, side by side with a peer in the "
    "same run, and the exact command that produced it.\n"
)


def write_section(section: str, start: str, end: str, path: Path = RESULTS) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the
    file's section between those markers, or append it when the file has none yet."""
    if not (section.lstrip().startswith(start) and section.rstrip().endswith(end)):
        raise ValueError(f"a section must run from {start} to {end}")
    section = section.strip("\n")
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def report(section: str, start: str, end: str, *, write: bool) -> None:
    """Print a benchmark's section, and with `write` (`--write`) put it in RESULTS.md."""
    print(section)
    if write:
        write_section(section, start, end)
