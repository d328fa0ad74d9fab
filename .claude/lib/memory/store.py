"""The memory files on disk: read them, add to them, and summarise them for SessionStart.

The markdown files are the truth; the search index (search.py) is a cache built from them.
Reading and `digest_text` are stdlib only (the SessionStart hook imports this module under
`python3 -I -S`); writes import `filelock` lazily, take one lock for the folder, and replace the
file atomically, so a reader never sees half an entry and two writers never lose each other's entry.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path

from autoresearch import fsutil

from . import entries as fmt

LOCK_NAME = "memory.lock"  # gitignored (*.lock)
INDEX_DIR = ".index"  # gitignored; search.py keeps its SQLite cache here, add() its temp files
LOCK_TIMEOUT_SECONDS = 10.0
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 8000
MAX_TAGS_CHARS = 300
NEAR_DUPLICATE_JACCARD = 0.75
DIGEST_MAX_CHARS = 2500
DIGEST_LINE_CHARS = 170
DIGEST_FULL_PARSE_BYTES = 256 * 1024  # larger files: the digest parses only their newest entries
DIGEST_TAIL_ENTRIES = 60
DIGEST_ROUNDS = (("Learnings", 2), ("Open issues", 1), ("Decisions", 1), ("Learnings", 2), ("Open issues", 2),
                 ("Decisions", 1))  # fmt: skip
CLI = "uv run .claude/lib/memory/memory_search.py"
FILE_HEADER = (
    "# {heading}\n\n"
    "<!-- autoresearch-pack memory ({kind} entries). Add with: {cli} add --kind {kind} --title ... "
    "Hand edits between sessions are fine: one `## ID · title` heading per entry, `- key: value` lines, "
    "then text. -->\n"
)


# On lowercased text: a literal first word lets the regex engine skip ahead fast.
_PINNED_LINE = re.compile(r"pinned(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*(?:true|yes|1)[ \t]*$", re.M)
_SUPERSEDES_LINE = re.compile(r"supersedes(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*([^\n]+)")


class StoreError(Exception):
    """A one-line problem with a memory command: what is wrong and how to fix it."""


class NearDuplicate(StoreError):
    def __init__(self, message: str, matches: list[tuple[fmt.Entry, float]]):
        super().__init__(message)
        self.matches = matches


@dataclass
class Memory:
    entries: list[fmt.Entry] = field(default_factory=list)
    problems: list[fmt.Problem] = field(default_factory=list)

    def find(self, entry_id: str) -> fmt.Entry | None:
        wanted = entry_id.strip().strip("[]").upper()
        for entry in self.entries:
            if entry.id == wanted:
                return entry
        return None

    def superseded_ids(self) -> set[str]:
        ids = set()
        for entry in self.entries:
            ids.update(entry.supersedes)
        return ids


@dataclass
class AddResult:
    entry: fmt.Entry
    added: bool  # False: an exact duplicate already existed, and `entry` is that one
    path: Path
    near: list[tuple[fmt.Entry, float]] = field(default_factory=list)  # shown when --force wrote anyway


def memory_files(memory_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    folder = Path(memory_dir)
    return [(kind, folder / name) for kind, (_, name, _) in fmt.KINDS.items()]


def read_file(path: Path, kind: str) -> tuple[list[fmt.Entry], list[fmt.Problem]]:
    """Entries of one file; a missing file is empty, undecodable bytes are replaced and reported."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [fmt.Problem(path.name, 0, f"cannot read: {exc.strerror}")]
    return parse_bytes(data, kind, path.name)


def parse_bytes(data: bytes, kind: str, name: str) -> tuple[list[fmt.Entry], list[fmt.Problem]]:
    problems = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            fmt.Problem(name, line, "bytes that are not UTF-8 (read with replacement characters)")
        )
        text = data.decode("utf-8", errors="replace")
    found, more = fmt.parse_text(text.replace("\r\n", "\n"), kind, name)
    return found, problems + more


def load(memory_dir: str | os.PathLike) -> Memory:
    """Every entry of the three files; ids made unique (a repeated id gets a -2 suffix, reported)."""
    memory = Memory()
    for kind, path in memory_files(memory_dir):
        found, problems = read_file(path, kind)
        memory.entries += found
        memory.problems += problems
    seen: set[str] = set()
    for entry in memory.entries:
        if entry.id in seen:
            n = 2
            while f"{entry.id}-{n}" in seen:
                n += 1
            memory.problems.append(
                fmt.Problem(
                    entry.file, entry.line, f"id {entry.id} is used twice; this one reads as {entry.id}-{n}"
                )
            )
            entry.id = f"{entry.id}-{n}"
        seen.add(entry.id)
    return memory


def newest_first(entries: list[fmt.Entry]) -> list[fmt.Entry]:
    """By date, newest first; within a day (or with no date) later in the file is newer."""
    order = {id(e): i for i, e in enumerate(entries)}
    return sorted(entries, key=lambda e: (e.date or "0000", order[id(e)]), reverse=True)


# --- writing ---


def words(text: str) -> set[str]:
    return {w for w in fmt.WORD.findall(text.lower()) if w not in fmt.STOPWORDS}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _near_duplicates(mine: set[str], candidates: list[fmt.Entry]) -> list[tuple[fmt.Entry, float]]:
    """The (at most 3) entries whose word sets overlap `mine` by at least NEAR_DUPLICATE_JACCARD.

    Jaccard >= t needs at least t x |mine| of our words in the other entry, so an entry whose text lacks
    more than the rest of them (a substring test, cheap) is skipped before its words are computed.
    """
    allowed_misses = len(mine) - math.ceil(NEAR_DUPLICATE_JACCARD * len(mine))
    scored = []
    for entry in candidates:
        text = (entry.title + " " + entry.body).lower()
        misses = 0
        for word in mine:
            if word not in text:
                misses += 1
                if misses > allowed_misses:
                    break
        else:
            score = jaccard(mine, words(text))
            if score >= NEAR_DUPLICATE_JACCARD:
                scored.append((entry, round(score, 2)))
    scored.sort(key=lambda pair: pair[1], reverse=True)
    return scored[:3]


def next_id(existing: list[fmt.Entry], kind: str) -> str:
    prefix = fmt.KINDS[kind][0]
    pattern = re.compile(rf"^{prefix}-(\d+)$")
    numbers = [int(m.group(1)) for e in existing if (m := pattern.match(e.id))]
    return f"{prefix}-{(max(numbers) if numbers else 0) + 1:0{fmt.ID_DIGITS}d}"


def _check_input(kind: str, title: str, text: str, tags: list[str]) -> tuple[str, str]:
    if kind not in fmt.KINDS:
        raise StoreError(f"unknown kind {kind!r}: use one of {', '.join(fmt.KINDS)}")
    title = " ".join((title or "").split())
    if not title:
        raise StoreError(
            'the title is empty: give a one-line summary, e.g. --title "Halving batch size helps at 300 s"'
        )
    if len(title) > MAX_TITLE_CHARS:
        raise StoreError(
            f"the title has {len(title)} characters (max {MAX_TITLE_CHARS}): "
            "keep it to one line, put details in --text"
        )
    if len(text or "") > MAX_TEXT_CHARS:
        raise StoreError(
            f"the text has {len(text)} characters (max {MAX_TEXT_CHARS}): one entry per insight; "
            "summarise, and point to the commit or run.log instead of pasting it"
        )
    if len(", ".join(tags)) > MAX_TAGS_CHARS:
        raise StoreError(f"the tags are longer than {MAX_TAGS_CHARS} characters: use a few short tags")
    if "\x00" in title + (text or ""):
        raise StoreError("the title or text contains a NUL byte: pass plain text")
    return title, fmt.safe_body(text or "")


def _lock(memory_dir: Path):
    return fsutil.lock(memory_dir / LOCK_NAME, LOCK_TIMEOUT_SECONDS)


def _atomic_write(path: Path, data: bytes) -> None:
    """Atomic replace; the temp file goes in the index folder so the memory folder never shows one."""
    fsutil.atomic_write(path, data, tmp_dir=path.parent / INDEX_DIR)


def add(
    memory_dir: str | os.PathLike,
    kind: str,
    title: str,
    text: str = "",
    tags: list[str] | tuple[str, ...] = (),
    fields: dict | None = None,
    force: bool = False,
    today: str | None = None,
) -> AddResult:
    """Append one entry under the folder's lock. Same content again returns the existing entry;
    a near-duplicate (word overlap >= NEAR_DUPLICATE_JACCARD) raises NearDuplicate unless `force`."""
    tags = [t.strip().lower() for t in tags if t and t.strip()]
    title, body = _check_input(kind, title, text, tags)
    fields = {k: v for k, v in (fields or {}).items() if v not in (None, "")}
    folder = Path(memory_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the memory folder {folder}: {exc.strerror}") from None
    path = folder / fmt.KINDS[kind][1]
    try:
        with _lock(folder):
            return _add_locked(folder, path, kind, title, body, tags, fields, force, today)
    except TimeoutError:
        raise StoreError(
            f"{folder / LOCK_NAME} is held by another process for {LOCK_TIMEOUT_SECONDS:.0f}s; "
            "retry in a moment"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None


def _add_locked(folder, path, kind, title, body, tags, fields, force, today) -> AddResult:
    same_file, _ = read_file(path, kind)  # ids are numbered per kind, so one file is enough
    commit = str(fields.get("commit", ""))
    wanted = fmt.content_hash(kind, title, body, commit)
    for entry in same_file:
        if entry.norm_hash == wanted:
            return AddResult(entry, False, path)
    wanted_ids = fields.get("supersedes", "").replace(",", " ").split()
    memory = load(folder) if wanted_ids else Memory()  # it may point at another kind's entry
    for old in wanted_ids:
        if memory.find(old) is None:
            raise StoreError(f"--supersedes {old}: no entry has that id; see `{CLI} list`")
    near = _near_duplicates(words(title + " " + body), same_file)
    if near and not force:
        best, score = near[0]
        raise NearDuplicate(
            f"near-duplicate of {best.id} ({score:.0%} word overlap): {best.title!r}; "
            f"see `{CLI} show {best.id}`, or add --force to write it anyway",
            near,
        )
    entry_id = next_id(same_file, kind)
    meta = {"date": today or _date.today().isoformat()}
    if tags:
        meta["tags"] = ", ".join(dict.fromkeys(tags))
    for key in fmt.KNOWN_KEYS:
        if key in fields and key not in meta:
            meta[key] = str(fields[key])
    for key, value in fields.items():
        if key not in meta:
            meta[key] = str(value)
    block = fmt.render(entry_id, title, meta, body)
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = FILE_HEADER.format(heading=fmt.KINDS[kind][2], kind=kind, cli=CLI).encode("utf-8")
    if old and not old.endswith(b"\n"):
        old += b"\n"
    if old.strip() and not old.endswith(b"\n\n"):
        old += b"\n"
    _atomic_write(path, old + block.encode("utf-8"))
    written = fmt.parse_text(block, kind, path.name)[0][0]
    written.line = old.count(b"\n") + 1
    return AddResult(written, True, path, near)


# --- the SessionStart digest ---


def _digest_line(entry: fmt.Entry) -> str:
    facts = []
    delta = entry.number("delta")
    if delta is not None:
        facts.append(f"Δ{delta:+.4f}")
    elif entry.number("val_bpb") is not None:
        facts.append(f"val_bpb {entry.number('val_bpb'):.4f}")
    if entry.commit:
        facts.append(entry.commit[:7])
    if entry.status:
        facts.append(entry.status)
    if entry.evidence == "hypothesis":
        facts.append("hypothesis")
    tail = f" ({', '.join(facts)})" if facts else ""
    line = f"- {entry.id} {entry.date or '----------'} {entry.title}{tail}"
    return line if len(line) <= DIGEST_LINE_CHARS else line[: DIGEST_LINE_CHARS - 1] + "…"


def digest_text(memory_dir: str | os.PathLike, max_chars: int = DIGEST_MAX_CHARS) -> str:
    """A compact, newest-first summary of the memory within `max_chars`. Never raises."""
    try:
        return _digest(Path(memory_dir), int(max_chars))
    except Exception as exc:  # noqa: BLE001 - the SessionStart hook must always get text
        return f"(memory digest unavailable: {exc.__class__.__name__}; try `{CLI} list`)"[
            : max(0, int(max_chars))
        ]


def _digest_memory(folder: Path) -> tuple[Memory, dict[str, int], set[str]]:
    """The entries the digest can show, the count per kind, and the superseded ids.

    A small file is parsed whole. A large one (> DIGEST_FULL_PARSE_BYTES) is split at its `## ` lines and
    only its newest DIGEST_TAIL_ENTRIES blocks and its pinned blocks are parsed, so SessionStart stays fast.
    """
    memory = Memory()
    counts = {kind: 0 for kind in fmt.KINDS}
    superseded: set[str] = set()
    for kind, path in memory_files(folder):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if len(data) <= DIGEST_FULL_PARSE_BYTES:
            found, problems = parse_bytes(data, kind, path.name)
            memory.problems += problems
        else:
            text = data.decode("utf-8", errors="replace")
            blocks = fmt.split_blocks(text)[1:]  # [0] is the text before the first entry
            older, newest = blocks[:-DIGEST_TAIL_ENTRIES], blocks[-DIGEST_TAIL_ENTRIES:]
            chosen = [b for b in older if "pinned" in b and _PINNED_LINE.search(b.lower())] + newest
            found = [e for block in chosen for e in fmt.parse_text(block, kind, path.name)[0]]
            for value in _SUPERSEDES_LINE.findall(text.lower()):
                superseded.update(v.strip("[]").upper() for v in re.split(r"[,\s]+", value) if v)
            counts[kind] = len(blocks)
        memory.entries += found
        counts[kind] = counts[kind] or len(found)
    superseded |= memory.superseded_ids()
    return memory, counts, superseded


def _digest(folder: Path, max_chars: int) -> str:
    if max_chars <= 0:
        return ""
    memory, counts, superseded = _digest_memory(folder)
    if not memory.entries:
        note = f"(no memory entries yet; record insights with `{CLI} add --kind learning --title ...`)"
        return note[:max_chars]

    def live(entry: fmt.Entry) -> bool:
        return entry.id not in superseded and entry.status not in ("superseded", "obsolete", "resolved")

    ordered = newest_first(memory.entries)
    pinned = [e for e in ordered if e.pinned and live(e)]
    issues = [e for e in ordered if e.kind == "issue" and live(e) and not e.pinned]
    decisions = [e for e in ordered if e.kind == "decision" and live(e) and not e.pinned]
    learnings = [e for e in ordered if e.kind == "learning" and live(e) and not e.pinned]
    sections = {"Pinned": pinned, "Learnings": learnings, "Open issues": issues, "Decisions": decisions}
    # Priority: pinned, then the newest of each kind in rounds (so a small cap still shows every kind),
    # then the rest newest first.
    priority = [("Pinned", e) for e in pinned]
    taken = {name: 0 for name in sections}
    for name, n in DIGEST_ROUNDS:
        priority += [(name, e) for e in sections[name][taken[name] : taken[name] + n]]
        taken[name] += n
    rest = [(name, e) for name, items in sections.items() if name != "Pinned" for e in items]
    taken_ids = {id(e) for _, e in priority}
    rest = [(n, e) for n, e in rest if id(e) not in taken_ids]
    rest.sort(key=lambda pair: pair[1].date or "0000", reverse=True)
    priority += rest

    head = (
        f"Memory: {counts['learning']} learnings, {counts['issue']} issues, {counts['decision']} decisions, "
        f'newest first. Search: {CLI} "query" | show ID | list'
    )
    if len(head) > max_chars:
        return head[:max_chars]
    chosen: dict[str, list[str]] = {name: [] for name in sections}
    used = len(head)
    shown = 0
    for name, entry in priority:
        line = _digest_line(entry)
        cost = len(line) + 1 + (0 if chosen[name] else len(name) + 2)
        if used + cost > max_chars - 30:  # leave room for the "more" line
            continue
        chosen[name].append(line)
        used += cost
        shown += 1
    out = [head]
    for name in sections:
        if chosen[name]:
            out.append(f"{name}:")
            out += chosen[name]
    hidden = len(pinned) + len(issues) + len(decisions) + len(learnings) - shown
    if hidden > 0:
        out.append(f"(+{hidden} more: see list)")
    if memory.problems:
        out.append(f"({len(memory.problems)} unreadable parts: see stats)")
    text = "\n".join(out)
    return text if len(text) <= max_chars else text[:max_chars]
