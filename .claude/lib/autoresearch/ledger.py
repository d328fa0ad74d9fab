"""The one home of results.tsv (the human-readable ledger) and runs.jsonl (the structured sidecar).

Stdlib only at import time: hooks read the ledger. Writes take a `filelock` lock, imported lazily.
Both files are append-only: nothing here ever rewrites or truncates them. A malformed ledger raises
LedgerError naming the line, and is left exactly as it was.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import NamedTuple

from . import fsutil
from . import outcomes as oc

COLUMNS = ("commit", "val_bpb", "memory_gb", "status", "description")
HEADER = "\t".join(COLUMNS)
STATUSES = ("keep", "discard", "crash")
COMMIT_CHARS = 7
LOCK_TIMEOUT_SECONDS = 30.0

_COMMIT = re.compile(r"^[0-9a-f]{4,40}$|^baseline$")


class LedgerError(Exception):
    """A ledger problem worded as one line: the file, the line number, what is wrong, the fix."""


class Row(NamedTuple):  # not a dataclass: importing dataclasses costs the hooks ~8 ms
    commit: str
    val_bpb: float
    memory_gb: float
    status: str
    description: str
    line_no: int = 0


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise LedgerError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    return status


MAX_DESCRIPTION_CHARS = 200  # every later `status` and report prints it: one short line


def check_description(description: str) -> str:
    """The description as the ledger stores it; LedgerError (one sentence with the fix) when it cannot be."""
    if not isinstance(description, str) or not description.strip():
        raise LedgerError('the description is empty: say in a few words what this run tried, e.g. "lr 0.04"')
    if "\t" in description or "\n" in description or "\r" in description:
        raise LedgerError("the description contains a tab or a newline: write it on one line without tabs")
    control = next((c for c in description if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if control is not None:
        raise LedgerError(
            f"the description contains the control character U+{ord(control):04X}: use plain printable text"
        )
    try:
        description.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 on the command line arrive as lone surrogates
        raise LedgerError("the description is not valid UTF-8 text: retype it in plain characters") from None
    text = description.strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise LedgerError(
            f"the description is {len(text)} characters long: keep it to at most {MAX_DESCRIPTION_CHARS} "
            "(the idea in a few words; put the reasoning in memory with memory_search.py add)"
        )
    return text


def format_row(commit: str, val_bpb: float, memory_gb: float, status: str, description: str) -> str:
    """One ledger line (no newline). Crashes are written as 0.000000 / 0.0, as upstream does."""
    check_status(status)
    description = check_description(description)
    if status == "crash" or not math.isfinite(val_bpb):
        val_bpb, memory_gb = 0.0, 0.0
    if not math.isfinite(memory_gb):
        memory_gb = 0.0
    return f"{commit[:COMMIT_CHARS]}\t{val_bpb:.6f}\t{memory_gb:.1f}\t{status}\t{description}"


def recorded_row(commit: str, outcome, val_bpb, memory_gb, status: str, description: str) -> Row:
    """The row `record` writes for a finished run: the one home of its zeroing rule. A crash, or a run
    without a trustworthy metric (any outcome but ok and mismatch), reads 0.0 / 0.0."""
    val = val_bpb if outcome in (oc.OK, oc.MISMATCH) else 0.0
    memory = memory_gb or 0.0
    if status == "crash":
        val, memory = 0.0, 0.0
    return Row(commit, val or 0.0, memory, status, description)


def row_of_record(record: dict) -> str | None:
    """The ledger line a sidecar record stands for (the keeper's way back to a row that vanished), or None
    when the record lacks a field. Raises LedgerError for a status or description `record` never writes."""
    if not isinstance(record, dict) or not isinstance(record.get("commit"), str):
        return None
    if not isinstance(record.get("status"), str) or not isinstance(record.get("description"), str):
        return None
    val, memory = record.get("val_bpb"), record.get("memory_gb")
    if not isinstance(val, (int, float, type(None))) or not isinstance(memory, (int, float, type(None))):
        return None
    row = recorded_row(
        record["commit"], record.get("outcome"), val, memory, record["status"], record["description"]
    )
    return format_row(row.commit, float(row.val_bpb), float(row.memory_gb), row.status, row.description)


def _parse_line(path: Path, line_no: int, line: str) -> Row:
    parts = line.split("\t")
    where = f"{path.name} line {line_no}"
    if len(parts) != len(COLUMNS):
        raise LedgerError(
            f"{where} has {len(parts)} tab-separated fields, expected {len(COLUMNS)} ({HEADER!r}): "
            "the file is truncated or was edited by hand; fix that line in an editor "
            "(the runner never rewrites it)"
        )
    commit, val_text, mem_text, status, description = parts
    if not _COMMIT.match(commit):
        raise LedgerError(f"{where}: commit {commit!r} is not a short hash; fix that line in an editor")
    try:
        val_bpb, memory_gb = float(val_text), float(mem_text)
    except ValueError:
        raise LedgerError(
            f"{where}: val_bpb {val_text!r} or memory_gb {mem_text!r} is not a number; "
            "fix that line in an editor"
        ) from None
    if status not in STATUSES:
        raise LedgerError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}; fix that line")
    return Row(commit, val_bpb, memory_gb, status, description, line_no)


def read_rows(path: str | os.PathLike) -> list[Row]:
    """All rows of the ledger, in file order. A missing file is an empty ledger; a malformed one raises."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = data[: exc.start].count(b"\n") + 1
        raise LedgerError(
            f"{path.name} line {line_no} is not UTF-8 text; fix that line in an editor"
        ) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not lines or lines[0].rstrip("\r") != HEADER:
        raise LedgerError(
            f"{path.name} line 1 is not the header {HEADER!r}: the file is empty or corrupt; "
            "restore it from a backup or move it away and run setup again"
        )
    rows = []
    for line_no, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        rows.append(_parse_line(path, line_no, line))
    return rows


def create(path: str | os.PathLike) -> bool:
    """Create the ledger with only the header; False (untouched) when it already exists."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
    return True


def _lock(path: Path):
    return fsutil.lock(str(path) + ".lock", LOCK_TIMEOUT_SECONDS)


def _append_bytes(path: Path, payload: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_row(path: str | os.PathLike, row: Row) -> Row:
    """Append one row under the lock, after checking the whole file parses. Returns the row with its line_no.

    The file is validated first so a row is never glued onto a truncated line; when the last line is
    complete but lacks its newline, a newline is appended before the row (never a rewrite).
    """
    path = Path(path)
    line = format_row(row.commit, row.val_bpb, row.memory_gb, row.status, row.description)
    try:
        with _lock(path):
            if not path.exists():
                create(path)
            rows = read_rows(path)
            with path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 1))
                needs_newline = size > 0 and fh.read(1) != b"\n"
            payload = ("\n" if needs_newline else "") + line + "\n"
            _append_bytes(path, payload.encode("utf-8"))
            line_no = (rows[-1].line_no if rows else 1) + 1
    except TimeoutError:
        raise LedgerError(
            f"{path.name} is locked by another process for {LOCK_TIMEOUT_SECONDS:.0f}s"
        ) from None
    return Row(line.split("\t")[0], row.val_bpb, row.memory_gb, row.status, row.description.strip(), line_no)


# --- the sidecar: one JSON object per recorded run, with the facts results.tsv has no column for ---


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a missing number reads as null
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def append_record(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line to the sidecar under its lock."""
    path = Path(path)
    record = _json_safe(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = (json.dumps(record, sort_keys=True, allow_nan=False, default=str) + "\n").encode("utf-8")
    try:
        with _lock(path):
            _append_bytes(path, payload)
    except TimeoutError:
        raise LedgerError(
            f"{path.name} is locked by another process for {LOCK_TIMEOUT_SECONDS:.0f}s"
        ) from None


def read_records(path: str | os.PathLike) -> list[dict]:
    """The sidecar's records; a line that is not a JSON object (e.g. a torn last line) is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            records.append(item)
    return records
