"""Files into pyarrow tables of strings: CSV and other delimited text, Parquet, JSON lines.

The format comes from the extension: ``.parquet``/``.pq`` is Parquet,
``.jsonl``/``.ndjson``/``.json`` JSON lines, anything else delimited text. A
text file's delimiter is detected from its first lines (``csv.Sniffer`` over
comma, semicolon, tab and bar) unless given, and so is its header line; header
names lose leading comment marks (Last.fm's ``//userID`` is ``userID``). A
file without a header names its columns by position: ``1``, ``2``, …

Every column of a text file is read as text (``read_table``), and so is any
column of Parquet or JSON lines except integers and floats, kept as numbers (as
text they took twice the memory): ``interactions.log`` checks them row by row
and names the line of a bad one. A text row with
the wrong number of fields is collected, not fatal, with its line
(``Table.bad_rows``); blank lines are skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pa_parquet

from interactions.schema import DataError

#: Extensions read as Parquet and as JSON lines; any other file is delimited text.
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
#: Delimiters detection chooses from.
DELIMITERS = ",;\t|"
#: Bytes of a text file that delimiter and header detection read.
SAMPLE_BYTES = 64 * 1024
#: Names the delimiter flag accepts for characters hard to type.
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


@dataclass
class Table:
    """A file's columns as text.

    Attributes:
        path: The file.
        format: csv, parquet or jsonl.
        columns: Column name -> pyarrow array (nulls for missing values): strings, or integers and floats as
            a Parquet or JSON-lines file stores them.
        names: Every column name the file has, in order.
        delimiter, header: A text file's delimiter and whether it had a header line.
        first_line: The file line of the first data row (text files; 0 for others).
        bad_rows: ``(line, reason)`` of text rows with the wrong number of fields, in file order.
    """

    path: Path
    format: str
    columns: dict[str, pa.Array]
    names: list[str]
    delimiter: str = ""
    header: bool = False
    first_line: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line(self, row: int) -> int:
        """The file line of data row ``row`` (text files: counting the dropped bad rows; others: ``row + 1``)."""
        if self.format != "csv":
            return row + 1
        line = self.first_line + row
        for bad_line, _ in self.bad_rows:  # few; each earlier one pushes the row a line down
            if bad_line <= line:
                line += 1
        return line

    def where(self, row: int) -> str:
        """``file line N`` (text), ``file row N`` (Parquet) or ``file line N`` (JSON lines)."""
        return f"{self.path} {'row' if self.format == 'parquet' else 'line'} {self.line(row)}"


def read_table(path: str | Path, wanted: list[str], delimiter: str = "", header: str = "auto") -> Table:
    """Reads the ``wanted`` columns of a file as text.

    Args:
        path: The file.
        wanted: Column names (or 1-based positions, for a file without a header) to read.
        delimiter: A text file's delimiter (or a name from ``DELIMITER_NAMES``); empty: detected.
        header: auto, yes or no: whether a text file's first line names its columns.

    Returns:
        The columns, named as ``wanted`` names them.

    Raises:
        DataError: The file is missing, empty or unreadable, or lacks a wanted column (the message lists
            the columns it has and, for a text file of one column, suggests the delimiter).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            names = list(pa_parquet.read_schema(path).names)
            _check_wanted(Table(path, "parquet", {}, names), wanted)
            table = pa_parquet.read_table(path, columns=wanted)  # the wanted columns alone
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{path}: not a readable Parquet file ({error})") from error
        return _named(Table(path, "parquet", {}, names), table, wanted)
    if suffix in JSON_SUFFIXES:
        try:
            table = pa_json.read_json(path)
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{path}: not JSON lines, one object per line ({error})") from error
        return _named(Table(path, "jsonl", {}, list(table.column_names)), table, wanted)
    return _read_text(path, wanted, delimiter, header)


def _read_text(path: Path, wanted: list[str], delimiter: str, header: str) -> Table:
    with open(path, "rb") as handle:
        sample_bytes = handle.read(SAMPLE_BYTES)
    try:
        sample = sample_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.start < len(sample_bytes) - 4:  # not a character cut at the sample's end
            raise DataError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8") from error
        sample = sample_bytes[:error.start].decode("utf-8-sig")
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(sample_bytes) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut short
    if not lines:
        raise DataError(f"{path}: the file is empty")
    delimiter = DELIMITER_NAMES.get(delimiter, delimiter) if delimiter else _detect_delimiter(lines)
    if len(delimiter) != 1:
        raise DataError(f"the delimiter must be one character, not {delimiter!r}")
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    if header == "auto":
        # A first line holding a wanted column's name is a header; else csv.Sniffer decides.
        header_names = {value.strip().lstrip("#/").strip() for value in first}
        named = {name for name in wanted if not name.isdigit()} & header_names
        has_header = bool(named) or (len(lines) > 1 and _sniff_header(lines))
    else:
        has_header = header == "yes"
    names = ([name.strip().lstrip("#/").strip() for name in first] if has_header
             else [str(position) for position in range(1, len(first) + 1)])
    table = Table(path, "csv", {}, names, delimiter=delimiter, header=has_header, first_line=2 if has_header else 1)
    _check_wanted(table, wanted, lines[0])
    skip = 1 if has_header else 0

    def invalid(row: pa_csv.InvalidRow) -> str:
        if row.text.strip():
            table.bad_rows.append((row.number, f"{row.actual_columns} fields, not {row.expected_columns}"))
        return "skip"

    try:
        read = pa_csv.read_csv(
            path, read_options=pa_csv.ReadOptions(column_names=names, skip_rows=skip, use_threads=False,
                                                  encoding="utf-8"),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid,
                                              ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in wanted},
                                                  include_columns=wanted, strings_can_be_null=False))
    except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not readable as {_delimiter_name(delimiter)}-separated text ({error})") from error
    table.columns = {name: read.column(name).combine_chunks() for name in wanted}
    del read
    pa.default_memory_pool().release_unused()  # the reader's buffers
    return table


def _named(table: Table, read: pa.Table, wanted: list[str]) -> Table:
    _check_wanted(table, wanted)
    columns = {}
    for name in wanted:
        column = read.column(name).combine_chunks()
        try:
            columns[name] = column if _kept(column.type) else column.cast(pa.string())
        except pa.ArrowException as error:
            raise DataError(f"{table.path}: column {name!r} holds {column.type}, not ids or numbers") from error
    table.columns = columns
    del read
    pa.default_memory_pool().release_unused()  # the reader's buffers (at 25M rows, three times the columns)
    return table


def _kept(kind: pa.DataType) -> bool:
    """Whether ``read_table`` keeps a column of this type as it is: strings, integers and floats."""
    return pa.types.is_string(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)


def _check_wanted(table: Table, wanted: list[str], first_line: str = "") -> None:
    missing = [name for name in wanted if name not in table.names]
    if not missing:
        return
    has = ", ".join(repr(name) for name in table.names)
    hint = ""
    if table.format == "csv" and len(table.names) == 1:
        found = [_delimiter_name(candidate) for candidate in DELIMITERS if candidate in first_line]
        line = "" if table.header else f"; its first line is {first_line[:80]!r}"
        hint = f"{line}; is the delimiter {' or '.join(found) if found else 'right'}? (--delimiter)"
    elif table.format == "csv" and not table.header:
        hint = "; it has no header line, so columns are named by position (--header yes if its first line names them)"
    raise DataError(f"{table.path}: no column {missing[0]!r}; the file has {len(table.names)} "
                    f"column{'s' if len(table.names) != 1 else ''}: {has}{hint}")


def _detect_delimiter(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # One column, or no consistent delimiter: the most frequent candidate, else a comma.
        counts = {candidate: lines[0].count(candidate) for candidate in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _sniff_header(lines: list[str]) -> bool:
    try:
        return csv.Sniffer().has_header("\n".join(lines[:50]) + "\n")
    except csv.Error:
        return False


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "bar", " ": "space"}.get(delimiter, repr(delimiter))
