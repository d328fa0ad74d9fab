"""The memory entry format, and a lenient parser for it.

One entry per `##` heading that carries a stable id, then a block of `- key: value` lines, a blank
line, and free text:

    ## L-0007 · Halving the batch size helps at a 300 s budget
    - date: 2026-11-25
    - tags: batch-size, throughput
    - commit: a1b2c3d
    - val_bpb: 0.993800
    - delta: -0.004100
    - status: keep
    - evidence: measured

    More optimizer steps beat larger batches when the budget is wall-clock.

Stdlib only: the SessionStart hook reads entries (through store.digest_text) under `python3 -I -S`.
Hand-edited and legacy entries are read too: a heading without an id gets one derived from its title,
`[ADR-001]`-style ids are kept, `- [2026-01-02] [TAG] text` bullets before the first heading become
entries. Whatever cannot be read is reported as a Problem and kept as text, never raised.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

# kind -> (id prefix, file name, file heading)
KINDS = {
    "learning": ("L", "learnings.md", "Learnings"),
    "issue": ("I", "issues.md", "Issues"),
    "decision": ("D", "decisions.md", "Decisions"),
}
PREFIX_KIND = {prefix: kind for kind, (prefix, _, _) in KINDS.items()}
KNOWN_KEYS = (
    "date",
    "tags",
    "commit",
    "val_bpb",
    "baseline_bpb",
    "delta",
    "memory_gb",
    "status",
    "evidence",
    "supersedes",
    "superseded_by",
    "pinned",
)
KNOWN_KEY_SET = frozenset(KNOWN_KEYS)
NUMERIC_KEYS = ("val_bpb", "baseline_bpb", "delta", "memory_gb")
EVIDENCE_VALUES = ("measured", "hypothesis")
ID_DIGITS = 4  # L-0007
SEPARATOR = " · "

# `## L-0007 · title`, `## L-0007: title`, `## L-0007 - title`, `## L-0007` (no title)
_OWN_ID = re.compile(
    r"^(?P<id>[LID]-\d{1,9}|[LID]-h[0-9a-f]{6,12}(?:-\d+)?)(?:\s*[·:|—–]\s*|\s+-\s+|\s*$)(?P<title>.*)$"
)
# `## [ADR-001] title`, `## [L-20261125-3fa9] title`: any bracketed id is kept as it is
_BRACKET_ID = re.compile(
    r"^\[(?P<id>[A-Za-z]{1,8}-[0-9A-Za-z][0-9A-Za-z-]{0,30})\]\s*[·:|—–-]?\s*(?P<title>.*)$"
)
_META = re.compile(
    r"^\s*[-*+]\s+(?:\*\*)?(?P<key>[A-Za-z][A-Za-z0-9_ -]{0,30}?)(?:\*\*)?\s*:(?:\*\*)?(?:\s+(?P<value>.*))?$"
)
_LEGACY_BULLET = re.compile(
    r"^\s*[-*]\s+\[(?P<date>\d{4}-\d{2}-\d{2})[^\]]*\]\s*(?:\[(?P<tag>[^\]]+)\]\s*)?(?P<text>.*)$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_COMMIT = re.compile(r"^[0-9a-f]{4,40}$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_WORDS = re.compile(r"\s+")
WORD = re.compile(r"[^\W_]+")  # a word as SQLite's unicode61 tokenizer sees it (underscore separates)
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its itself just me more most my no nor not now of off on once
    only
    or other our out over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom why will with
    would you your""".split()
)


@dataclass(frozen=True)
class Problem:
    """Something the parser could not read; the text stays in the file untouched."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Entry:
    id: str
    kind: str
    title: str
    meta: dict = field(default_factory=dict)  # every `- key: value` line, unknown keys included
    body: str = ""
    file: str = ""
    line: int = 0  # 1-based line of the heading
    raw: str = ""  # the entry's exact text in the file
    derived_id: bool = False  # True when the heading carried no id

    @property
    def date(self) -> str:
        value = self.meta.get("date", "")
        return value[:10] if _DATE.match(value) else ""

    @property
    def tags(self) -> list[str]:
        return [t.strip() for t in self.meta.get("tags", "").replace(";", ",").split(",") if t.strip()]

    @property
    def status(self) -> str:
        return self.meta.get("status", "").strip().lower()

    @property
    def evidence(self) -> str:
        return self.meta.get("evidence", "").strip().lower()

    @property
    def commit(self) -> str:
        return self.meta.get("commit", "").strip()

    @property
    def pinned(self) -> bool:
        return self.meta.get("pinned", "").strip().lower() in ("true", "yes", "1")

    @property
    def supersedes(self) -> list[str]:
        if "supersedes" not in self.meta:
            return []
        return [
            s.strip().strip("[]").upper()
            for s in re.split(r"[,\s]+", self.meta.get("supersedes", ""))
            if s.strip()
        ]

    def number(self, key: str) -> float | None:
        value = self.meta.get(key)
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return None

    @property
    def extra_text(self) -> str:
        """Values of unknown keys: searchable, like the body."""
        return " ".join(v for k, v in self.meta.items() if k not in KNOWN_KEY_SET)

    @property
    def norm_hash(self) -> str:
        return content_hash(self.kind, self.title, self.body, self.commit)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "date": self.date,
            "tags": self.tags,
            "status": self.status,
            "evidence": self.evidence,
            "commit": self.commit,
            "val_bpb": self.number("val_bpb"),
            "delta": self.number("delta"),
            "pinned": self.pinned,
            "supersedes": self.supersedes,
            "meta": dict(self.meta),
            "body": self.body,
            "file": self.file,
            "line": self.line,
            "derived_id": self.derived_id,
        }


def normalize(text: str) -> str:
    return _WORDS.sub(" ", text).strip().lower()


def content_hash(kind: str, title: str, body: str, commit: str = "") -> str:
    """Same kind, title, text and commit (case and whitespace ignored) = the same entry."""
    key = "\n".join((kind, normalize(title), normalize(body), commit.strip().lower()))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def derived_id(kind: str, title: str) -> str:
    """A stable id for a heading written without one: the kind's prefix + a hash of the title."""
    digest = hashlib.sha1(normalize(title).encode("utf-8")).hexdigest()[:6]
    return f"{KINDS[kind][0]}-h{digest}"


def kind_of_file(name: str) -> str | None:
    for kind, (_, file_name, _) in KINDS.items():
        if name == file_name:
            return kind
    return None


def _split_heading(text: str) -> tuple[str | None, str]:
    text = text.strip().rstrip("#").strip()
    for pattern in (_OWN_ID, _BRACKET_ID):
        match = pattern.match(text)
        if match:
            return match.group("id").upper(), match.group("title").strip()
    return None, text.strip()


def _check_meta(entry: Entry, file: str, problems: list[Problem]) -> None:
    """Known keys with unreadable values are reported (and kept as written)."""
    meta = entry.meta
    where = f"{entry.id}: "
    if "date" in meta and not _DATE.match(meta["date"]):
        problems.append(Problem(file, entry.line, f"{where}date {meta['date']!r} is not YYYY-MM-DD"))
    for key in NUMERIC_KEYS:
        if key in meta and meta[key].strip() and entry.number(key) is None:
            problems.append(Problem(file, entry.line, f"{where}{key} {meta[key]!r} is not a number"))
    if "evidence" in meta and entry.evidence not in EVIDENCE_VALUES:
        problems.append(
            Problem(file, entry.line, f"{where}evidence {meta['evidence']!r} is not measured|hypothesis")
        )
    if meta.get("commit") and not _COMMIT.match(entry.commit):
        problems.append(Problem(file, entry.line, f"{where}commit {meta['commit']!r} is not a hex hash"))


def _finish(
    kind: str, file: str, line: int, heading: str, block: list[str], problems: list[Problem]
) -> Entry:
    entry_id, title = _split_heading(heading)
    entry = Entry(id=entry_id or "", kind=kind, title=title, file=file, line=line)
    if not title and not entry_id:
        problems.append(Problem(file, line, "a `##` heading without a title"))
    lines = block[1:]
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines):
        match = _META.match(lines[i])
        if not match:
            break
        key = "_".join(match.group("key").lower().replace("-", " ").split())
        entry.meta[key] = (match.group("value") or "").strip()
        i += 1
    entry.body = "\n".join(lines[i:]).strip("\n")
    entry.raw = "\n".join(block).rstrip() + "\n"
    if not entry_id:
        entry.id = derived_id(kind, title or entry.body[:80])
        entry.derived_id = True
    _check_meta(entry, file, problems)
    return entry


def _preamble_line(kind, file, line, line_no, entries, problems, reported: bool) -> bool:
    """A line before the first heading: a legacy `- [date] [TAG] text` bullet becomes an entry."""
    legacy = _LEGACY_BULLET.match(line)
    if legacy and legacy.group("text").strip():
        text = legacy.group("text").strip()
        entry = Entry(id=derived_id(kind, text), kind=kind, title=text[:120], file=file, line=line_no)
        entry.meta["date"] = legacy.group("date")
        if legacy.group("tag"):
            entry.meta["tags"] = legacy.group("tag").strip().lower()
        entry.body = text if len(text) > 120 else ""
        entry.raw, entry.derived_id = line + "\n", True
        entries.append(entry)
        return reported
    quiet = not line.strip() or line.startswith("# ") or line.lstrip().startswith("<!--")
    if not quiet and not reported:
        message = "text before the first `## ` heading belongs to no entry (kept, not searchable)"
        problems.append(Problem(file, line_no, message))
        return True
    return reported


def split_blocks(text: str) -> list[str]:
    """The text cut before every line that starts with `##` but not `###`: [preamble, entry, entry, ...].

    The same as re.split(r"(?m)^(?=##(?!#))", text), with str.split doing the scanning (much faster).
    """
    pieces = ("\n" + text).split("\n##")
    blocks = [pieces[0][1:]]
    for i, piece in enumerate(pieces[1:]):
        newline = "" if i == 0 and pieces[0] == "" else "\n"  # our own "\n" when the text starts with ##
        if piece.startswith("#"):  # a `###` line belongs to the block above
            blocks[-1] += newline + "##" + piece
        else:
            blocks[-1] += newline
            blocks.append("##" + piece)
    return blocks


def parse_text(text: str, kind: str, file: str = "") -> tuple[list[Entry], list[Problem]]:
    """All entries of one memory file, in file order, and what could not be read. Never raises."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    skipped = 0  # lines of front matter
    if text.split("\n", 1)[0].strip() == "---":
        lines = text.split("\n")
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                skipped = j + 1
                text = "\n".join(lines[skipped:])
                break
    if "```" in text or "~~~" in text:
        _parse_lines(text.split("\n"), skipped, kind, file, entries, problems)
        return entries, problems
    # Fast path (no code fences): split at the `##` lines in C, parse each block.
    parts = split_blocks(text)
    reported = False
    for n, line in enumerate(parts[0].split("\n")):
        reported = _preamble_line(kind, file, line, skipped + n + 1, entries, problems, reported)
    line_no = skipped + parts[0].count("\n") + 1
    for part in parts[1:]:
        block = part.split("\n")
        entries.append(_finish(kind, file, line_no, block[0][2:], block, problems))
        line_no += part.count("\n")
    return entries, problems


def _parse_lines(lines: list[str], skipped: int, kind, file, entries, problems) -> None:
    """Line by line, aware of code fences: a `##` line inside ``` ... ``` is text."""
    in_fence = False
    block: list[str] | None = None
    block_line = 0
    reported = False
    for index, line in enumerate(lines):
        line_no = skipped + index + 1
        if _FENCE.match(line):
            in_fence = not in_fence
        opens = line.startswith("##") and not line.startswith("###")
        if opens and in_fence and _OWN_ID.match(line[2:].strip()):
            # an id heading always opens an entry: one unclosed fence must not swallow the rest of the file
            problems.append(Problem(file, line_no, "a ``` code fence above this entry is never closed"))
            in_fence = False
        if opens and not in_fence:
            if block is not None:
                entries.append(_finish(kind, file, block_line, block[0][2:], block, problems))
            block, block_line = [line], line_no
        elif block is not None:
            block.append(line)
        else:
            reported = _preamble_line(kind, file, line, line_no, entries, problems, reported)
    if block is not None:
        entries.append(_finish(kind, file, block_line, block[0][2:], block, problems))
    if in_fence:
        problems.append(Problem(file, skipped + len(lines), "a ``` code fence is never closed"))


def render(entry_id: str, title: str, meta: dict, body: str) -> str:
    """The text of a new entry, ending with one newline."""
    lines = [f"## {entry_id}{SEPARATOR}{title}"]
    lines += [f"- {key}: {value}" for key, value in meta.items() if value not in (None, "")]
    text = "\n".join(lines) + "\n"
    if body.strip():
        text += "\n" + body.strip("\n") + "\n"
    return text


def safe_body(text: str) -> str:
    """Body text that cannot open a new entry: its `##` headings become `###`, an open fence is closed."""
    out = []
    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and line.startswith("##") and not line.startswith("###"):
            line = "#" + line
        out.append(line.rstrip())
    if in_fence:
        out.append("```")
    return "\n".join(out).strip("\n")
