"""The one home of train.py's output format: the final summary block and the progress lines.

Stdlib only. train.py may print with its own f-strings; `parse_summary` is the contract:

    ---
    val_bpb:          0.997900
    training_seconds: 300.1
    ...

Labels plus colon are left-justified to 18 characters. Progress lines start with `step ` and contain
`loss <float>`; a fast fail is one line starting `FAIL:` followed by exit code 1.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

LABEL_WIDTH = 18
SEPARATOR = "---"


class SummaryField(NamedTuple):
    name: str
    type: type
    fmt: str  # printf-style; "%s" for strings, "%d" for ints


SUMMARY_FIELDS: tuple[SummaryField, ...] = (
    SummaryField("val_bpb", float, "%.6f"),
    SummaryField("training_seconds", float, "%.1f"),
    SummaryField("total_seconds", float, "%.1f"),
    SummaryField("peak_vram_mb", float, "%.1f"),
    SummaryField("peak_rss_mb", float, "%.1f"),
    SummaryField("mfu_percent", float, "%.2f"),
    SummaryField("total_tokens_M", float, "%.1f"),
    SummaryField("num_steps", int, "%d"),
    SummaryField("epochs", float, "%.2f"),  # passes over the training split
    SummaryField("num_params_M", float, "%.1f"),
    SummaryField("depth", int, "%d"),
    SummaryField("device", str, "%s"),
    SummaryField("time_budget", int, "%d"),
)
FIELD_TYPES = {f.name: f.type for f in SUMMARY_FIELDS}

_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$")
_STEP_LOSS = re.compile(r"\bloss[\s:=]+([-+]?(?:nan|inf|infinity|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))", re.I)


def _convert(kind: type, raw: str):
    if kind is str:
        return raw
    if kind is int:
        try:
            return int(raw.replace(",", ""))
        except ValueError:
            return int(float(raw.replace(",", "")))  # "953.0" still reads as 953
    return float(raw.replace(",", ""))


def parse_summary(text: str) -> dict | None:
    """The last `---` block with a `val_bpb` line, as typed values; None when there is none.

    Known keys get their SUMMARY_FIELDS type (a value that does not convert is left out); unknown keys
    are kept as strings. Lines that are not `key: value` inside the block are skipped, so stray
    warnings printed after the block do not hide the metric.
    """
    lines = text.splitlines()  # also splits on \r, for logs written with carriage returns
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].strip() != SEPARATOR:
            continue
        values: dict = {}
        for line in lines[start + 1 :]:
            match = _KEY_VALUE.match(line.strip())
            if not match:
                continue
            key, raw = match.groups()
            if key in values:
                continue
            kind = FIELD_TYPES.get(key, str)
            try:
                values[key] = _convert(kind, raw)
            except ValueError:
                continue
        if "val_bpb" in values:
            return values
    return None


def format_summary(values: dict) -> str:
    """The summary block train.py prints: `---` then the known fields in order, then any extra keys."""
    out = [SEPARATOR]
    for f in SUMMARY_FIELDS:
        if f.name in values:
            value = values[f.name]
            text = f.fmt % (f.type(value) if f.type is not str else value)
            out.append(f"{f.name + ':':<{LABEL_WIDTH}}{text}")
    for key, value in values.items():
        if key not in FIELD_TYPES:
            out.append(f"{key + ':':<{LABEL_WIDTH}}{value}")
    return "\n".join(out)


def step_loss(line: str) -> float | None:
    """The loss on a progress line (`step ... loss X ...`), or None for any other line."""
    if not line.startswith("step "):
        return None
    match = _STEP_LOSS.search(line)
    if not match:
        return None
    return float(match.group(1))


_STEP_PROGRESS = re.compile(r"^step\s+(\d+)\s*\((\d+(?:\.\d+)?)%\)")


def progress(text: str) -> tuple[int, float, float | None] | None:
    """(step, percent of the budget, loss) from the last progress line in `text` (`step 00019 (93.7%) |
    loss 6.93 | ...`, the line train.py prints); None before the first one."""
    for line in reversed(text.splitlines()):
        found = _STEP_PROGRESS.match(line.strip())
        if found:
            return int(found.group(1)), float(found.group(2)), step_loss(line)
    return None


def fail_reason(line: str) -> str | None:
    """train.py's own fast-fail reason (`FAIL: ...`), or None."""
    if line.startswith("FAIL:"):
        return line[len("FAIL:") :].strip()
    return None


def is_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
