"""Reading member files (an Amplitude export or an uploaded CSV) as a stream of raw rows.

Real CSV parsing (RFC 4180: quoted values with embedded newlines and commas), one row
at a time from a text stream, so a 2,000,000-member file never sits in memory. The
reader picks the columns a project's mapping needs and reports, per bad row, its line
number and a reason; it never keeps or reports the values themselves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from cohorts.errors import CohortError

REASON_COLUMN_COUNT = "wrong number of columns"
GZIP_MAGIC = b"\x1f\x8b"

# Values are user properties (addresses, free text): far above the csv module's
# default 128 kB would only be a broken file.
csv.field_size_limit(1 << 20)


@dataclass
class ColumnMatch:
    """Where each wanted column is in the file's header (None: absent)."""

    positions: list[int | None]
    missing: list[str] = field(default_factory=list)
    width: int = 0


def text_stream(binary: BinaryIO, *, encoding: str = "utf-8") -> TextIO:
    """Decode a binary stream lazily; `newline=""` leaves quoted newlines to the CSV parser."""
    return io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")


def ungzip_if_needed(binary: BinaryIO) -> BinaryIO:
    """Uploaded files may be gzip too (a .csv.gz export saved from Amplitude)."""
    import gzip

    buffered = binary if isinstance(binary, io.BufferedReader) else io.BufferedReader(binary)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def _normalise_header(name: str) -> str:
    return name.strip().strip('"').strip().lower()


def columns_match(header: list[str], wanted: list[str], *, amplitude: bool) -> ColumnMatch:
    """Find each wanted column: exact name first, then case-insensitive.

    Amplitude may name custom user properties `gp:<name>` in exports; both spellings are
    accepted for an Amplitude file.
    """
    exact = {name: position for position, name in reversed(list(enumerate(header)))}
    loose = {_normalise_header(name): position for position, name in reversed(list(enumerate(header)))}
    positions: list[int | None] = []
    missing: list[str] = []
    for name in wanted:
        position = exact.get(name)
        if position is None:
            position = loose.get(_normalise_header(name))
        if position is None and amplitude:
            bare = _normalise_header(name).removeprefix("gp:")
            position = loose.get(f"gp:{bare}", loose.get(bare))
        positions.append(position)
        if position is None and name not in missing:
            missing.append(name)
    return ColumnMatch(positions=positions, missing=missing, width=len(header))


class _LineTracker:
    """Feeds the CSV parser line by line and remembers whether the last line was complete."""

    def __init__(self, text: TextIO) -> None:
        self._text = text
        self.last_line_complete = True

    def __iter__(self) -> Iterator[str]:
        for line in self._text:
            self.last_line_complete = line.endswith(("\n", "\r"))
            yield line


@dataclass
class MemberFileReader:
    """Yields (line number, raw values in `columns` order) or (line number, None, reason)."""

    text: TextIO
    columns: list[str]
    error_class: type[CohortError]
    amplitude: bool = False
    match: ColumnMatch | None = None
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, tuple[str, ...] | None, str]]:
        tracker = _LineTracker(self.text)
        reader = csv.reader(tracker, strict=True)
        try:
            yield from self._rows(reader, tracker)
        except csv.Error as exc:
            raise self.error_class(
                f"The file is not valid CSV near line {reader.line_num}: {exc}"
                + (" (the file looks truncated)." if not tracker.last_line_complete else ".")
            ) from None
        except UnicodeDecodeError:
            raise self.error_class(
                f"The file is not UTF-8 text (near line {reader.line_num + 1}); save it as CSV UTF-8."
            ) from None

    def _rows(self, reader, tracker: _LineTracker) -> Iterator[tuple[int, tuple[str, ...] | None, str]]:
        header = next(reader, None)
        if header is None:
            raise self.error_class("The file is empty: a header row is expected first.")
        match = self.match = columns_match(header, self.columns, amplitude=self.amplitude)
        if all(position is None for position in match.positions):
            raise self.error_class(
                f"The header has none of the mapped columns ({', '.join(dict.fromkeys(self.columns))}); "
                f"it has: {', '.join(name.strip() for name in header[:20])}."
            )
        if match.missing:
            self.warnings.append(
                f"No column for {', '.join(match.missing)}: those keys are empty for every member."
            )
        pick = _picker(match.positions)
        width = match.width
        last_bad_line = line = 0
        line_after = reader.line_num
        for row in reader:
            line = line_after + 1
            line_after = reader.line_num
            if len(row) == width:
                yield line, pick(row), ""
            elif not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            else:
                last_bad_line = line
                yield line, None, REASON_COLUMN_COUNT
        if last_bad_line and last_bad_line == line and not tracker.last_line_complete:
            # A last row cut short, without its line end: the file was cut, not written badly.
            raise self.error_class(f"The file ends in the middle of line {last_bad_line}: it is truncated.")


def _picker(positions: list[int | None]):
    """A fast function from a parsed CSV row to the wanted values ('' for absent columns)."""
    if all(position is not None for position in positions):
        if len(positions) == 1:
            only = positions[0]
            return lambda row: (row[only],)
        from operator import itemgetter

        return itemgetter(*positions)  # type: ignore[arg-type]
    return lambda row: tuple("" if position is None else row[position] for position in positions)
