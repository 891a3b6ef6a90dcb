"""Reading member files (an Amplitude export or an uploaded CSV) as a stream of raw rows.

Real CSV parsing (RFC 4180: quoted values with embedded newlines and commas) over a text
wrapper of the streamed body, a chunk of rows at a time, so a 2,000,000-member file
never sits in memory. The
reader picks the columns a project's mapping needs and reports, per bad row, its line
number and a reason; it never keeps or reports the values themselves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

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


class _TailTracker(io.RawIOBase):
    """Passes bytes through and remembers the last one: did the file end with a line end?"""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.last_byte = b"\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        if data:
            buffer[: len(data)] = data
            self.last_byte = data[-1:]
        return len(data)

    @property
    def ended_with_newline(self) -> bool:
        return self.last_byte in (b"\n", b"\r")


@dataclass
class RowChunk:
    """Up to `size` rows: the good ones (raw values in `columns` order, with their line
    numbers) and the rejected ones as (line number, reason)."""

    lines: list[int] = field(default_factory=list)
    values: list[tuple[str, ...]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.values) + len(self.rejected)


@dataclass
class MemberFileReader:
    """Reads a member file (binary, gzip already undone) in chunks of rows."""

    binary: BinaryIO
    columns: list[str]
    error_class: Callable[[str], CohortError]  # builds the error a broken file raises
    amplitude: bool = False
    encoding: str = "utf-8-sig"
    match: ColumnMatch | None = None
    warnings: list[str] = field(default_factory=list)

    def chunks(self, size: int) -> Iterator[RowChunk]:
        tail = _TailTracker(self.binary)
        text = io.TextIOWrapper(io.BufferedReader(tail, 1 << 16), encoding=self.encoding, newline="")
        reader = csv.reader(text, strict=True)
        try:
            yield from self._chunks(reader, tail, size)
        except csv.Error as exc:
            raise self.error_class(
                f"The file is not valid CSV near line {reader.line_num}: {exc}"
                + (" (the file looks truncated)." if not tail.ended_with_newline else ".")
            ) from None
        except UnicodeDecodeError:
            raise self.error_class(
                f"The file is not UTF-8 text (near line {reader.line_num + 1}); save it as CSV UTF-8."
            ) from None

    def _chunks(self, reader, tail: _TailTracker, size: int) -> Iterator[RowChunk]:
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
        chunk = RowChunk()
        lines, values, rejected = chunk.lines, chunk.values, chunk.rejected
        last_bad = line = 0
        line_after = reader.line_num
        for row in reader:
            line = line_after + 1  # where the row starts (a quoted value may span lines)
            line_after = reader.line_num
            if len(row) == width:
                lines.append(line)
                values.append(pick(row))
                if len(values) >= size:
                    yield chunk
                    chunk = RowChunk()
                    lines, values, rejected = chunk.lines, chunk.values, chunk.rejected
            elif not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            else:
                last_bad = line
                rejected.append((line, REASON_COLUMN_COUNT))
        if last_bad and last_bad == line and not tail.ended_with_newline:
            # A last row cut short, without its line end: the file was cut, not written badly.
            raise self.error_class(f"The file ends in the middle of line {last_bad}: it is truncated.")
        if chunk.rows_read:
            yield chunk


def _picker(positions: list[int | None]):
    """A fast function from a parsed CSV row to the wanted values ('' for absent columns)."""
    if all(position is not None for position in positions):
        if len(positions) == 1:
            only = positions[0]
            return lambda row: (row[only],)
        from operator import itemgetter

        return itemgetter(*positions)  # type: ignore[arg-type]
    return lambda row: tuple("" if position is None else row[position] for position in positions)
