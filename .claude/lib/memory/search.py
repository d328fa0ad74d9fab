"""Ranked search over the memory files: a SQLite FTS5 cache, or a pure-Python BM25 when FTS5 is missing.

The index lives in <memory_dir>/.index/memory.sqlite3 (gitignored) and is only a cache: every call stats
the three files and re-parses a file whose size, mtime or SHA-256 changed (no daemon, no watcher); a
corrupt or old-schema cache is deleted and rebuilt. Ranking:

1. The query becomes quoted terms (no FTS5 syntax can leak through), stopwords dropped, a few synonym
   groups (oom / out of memory, lr / learning rate, ...). All terms must match (AND); when that finds
   fewer than `limit` entries, entries matching any term (OR) are listed after them.
2. BM25 with column weights title 4 : tags 3 : body 1, Porter stemming.
3. final = relevance (bm25 / best bm25 of its tier) x recency (1 + 0.25 x 0.5^(age_days/14))
   x 0.4 if superseded or obsolete x 0.8 if evidence is a hypothesis, + 0.1 if pinned.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path

from . import entries as fmt
from . import store

NO_FTS5_ENV = "AUTORESEARCH_MEMORY_NO_FTS5"  # set to 1 to force the pure-Python fallback (tests do)
INDEX_FILE = "memory.sqlite3"
SCHEMA_VERSION = 2
WEIGHTS = (4.0, 3.0, 1.0)  # title, tags, body
CANDIDATES = 50  # per tier, before reranking
RECENCY_BOOST = 0.25
HALF_LIFE_DAYS = 14.0
SUPERSEDED_WEIGHT = 0.4
HYPOTHESIS_WEIGHT = 0.8
PINNED_BONUS = 0.1
RACY_NS = 2_000_000_000  # a file modified this close to its indexing is re-hashed next time
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's constants
SNIPPET_CHARS = 160
CACHE_KIB = 65536  # SQLite page cache ceiling; a full rebuild of 10k entries fits without spilling
INACTIVE_STATUSES = ("superseded", "obsolete")
# Query-side synonym groups: any alternative matches.
SYNONYMS = (
    ("oom", "out of memory"),
    ("lr", "learning rate"),
    ("nan", "diverge", "diverged", "divergence"),
    ("bs", "batch size"),
    ("wd", "weight decay"),
)


class SearchError(Exception):
    """A one-line problem with a query."""


@dataclass
class Hit:
    id: str
    kind: str
    title: str
    date: str
    tags: list[str]
    status: str
    evidence: str
    commit: str
    val_bpb: float | None
    delta: float | None
    pinned: bool
    file: str
    line: int
    snippet: str
    superseded: bool = False
    score: float = 0.0
    explain: dict = field(default_factory=dict)

    def to_dict(self, explain: bool = False) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "explain"}
        out["score"] = round(self.score, 4)
        if explain:
            out["explain"] = self.explain
        return out


@dataclass
class Result:
    query: str
    terms: list[str]  # the query as searched: one string per term group
    backend: str  # fts5 | python
    hits: list[Hit]
    matched_all: int  # how many hits matched every term (the rest came from the OR fallback)


# --- the query ---


def query_groups(text: str) -> list[tuple[tuple[str, ...], ...]]:
    """The query as term groups; each group is a tuple of alternatives, each alternative a token tuple."""
    tokens = fmt.WORD.findall((text or "").lower())
    groups: list[tuple[tuple[str, ...], ...]] = []
    i = 0
    while i < len(tokens):
        for synonyms in SYNONYMS:
            options = tuple(tuple(alt.split()) for alt in synonyms)
            found = next((alt for alt in options if tuple(tokens[i : i + len(alt)]) == alt), None)
            if found:
                groups.append(options)
                i += len(found)
                break
        else:
            if tokens[i] not in fmt.STOPWORDS:
                groups.append(((tokens[i],),))
            i += 1
    if not groups:  # a query of stopwords only still searches for them
        groups = [((t,),) for t in tokens]
    return list(dict.fromkeys(groups))


def fts_expression(groups, operator: str) -> str:
    """An FTS5 MATCH string in which every term is a quoted phrase: no operator, column or `*` survives."""
    parts = []
    for group in groups:
        phrases = ['"' + " ".join(alt).replace('"', '""') + '"' for alt in group]
        parts.append(phrases[0] if len(phrases) == 1 else "(" + " OR ".join(phrases) + ")")
    return f" {operator} ".join(parts)


def describe(groups) -> list[str]:
    return ["|".join(" ".join(alt) for alt in group) for group in groups]


# --- ranking shared by both backends ---


def _age_days(date_text: str, today: _date) -> float | None:
    try:
        return max(0.0, float((today - _date.fromisoformat(date_text[:10])).days))
    except (TypeError, ValueError):
        return None


def _rerank(rows: list[dict], tier: str, superseded_ids: set[str], today: _date) -> list[Hit]:
    top = max((r["bm25"] for r in rows), default=0.0)
    hits = []
    for row in rows:
        relevance = row["bm25"] / top if top > 0 else 1.0
        age = _age_days(row["date"], today)
        recency = 1.0 + RECENCY_BOOST * 0.5 ** (age / HALF_LIFE_DAYS) if age is not None else 1.0
        superseded = (
            row["id"] in superseded_ids
            or row["status"] in INACTIVE_STATUSES
            or bool(row.get("superseded_by"))
        )
        status_weight = SUPERSEDED_WEIGHT if superseded else 1.0
        evidence_weight = HYPOTHESIS_WEIGHT if row["evidence"] == "hypothesis" else 1.0
        pinned = PINNED_BONUS if row["pinned"] else 0.0
        final = relevance * recency * status_weight * evidence_weight + pinned
        hit = Hit(
            id=row["id"],
            kind=row["kind"],
            title=row["title"],
            date=row["date"],
            tags=[t for t in row["tags"].split(", ") if t],
            status=row["status"],
            evidence=row["evidence"],
            commit=row["commit"],
            val_bpb=row["val_bpb"],
            delta=row["delta"],
            pinned=bool(row["pinned"]),
            file=row["file"],
            line=row["line"],
            snippet=row["snippet"],
            superseded=superseded,
            score=final,
        )
        hit.explain = {
            "tier": "all terms" if tier == "and" else "some terms (OR fallback)",
            "bm25": round(row["bm25"], 4),
            "relevance": round(relevance, 4),
            "recency": round(recency, 4),
            "age_days": age,
            "status_weight": status_weight,
            "evidence_weight": evidence_weight,
            "pinned_bonus": pinned,
            "final": round(final, 4),
        }
        hits.append(hit)
    hits.sort(key=lambda h: (h.score, h.date), reverse=True)
    return hits


def _row_of(entry: fmt.Entry) -> dict:
    """The fields an index row keeps (both backends build the same rows)."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "file": entry.file,
        "line": entry.line,
        "title": entry.title,
        "date": entry.date,
        "status": entry.status,
        "evidence": entry.evidence,
        "tags": ", ".join(t.lower() for t in entry.tags),
        "commit": entry.commit,
        "val_bpb": entry.number("val_bpb"),
        "delta": entry.number("delta"),
        "pinned": int(entry.pinned),
        "supersedes": " ".join(entry.supersedes),
        "superseded_by": entry.meta.get("superseded_by", ""),
        "snippet": " ".join(entry.body[: 3 * SNIPPET_CHARS].split())[:SNIPPET_CHARS],
        "search_body": " ".join(filter(None, (entry.body, entry.extra_text, entry.commit))),
    }


def _unique_ids(found: list[fmt.Entry]) -> None:
    seen: set[str] = set()
    for entry in found:
        base, n = entry.id, 2
        while entry.id in seen:
            entry.id = f"{base}-{n}"
            n += 1
        seen.add(entry.id)


# --- the FTS5 backend ---


_FTS5: bool | None = None


def fts5_available() -> bool:
    """True when sqlite3 imports and has FTS5, and the fallback is not forced by the environment."""
    global _FTS5
    if os.environ.get(NO_FTS5_ENV, "") not in ("", "0"):
        return False
    if _FTS5 is None:
        try:
            import sqlite3

            conn = sqlite3.connect(":memory:")
            conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='porter unicode61')")
            conn.close()
            _FTS5 = True
        except Exception:  # noqa: BLE001 - no sqlite3 module, or a build without FTS5
            _FTS5 = False
    return _FTS5


ROW_COLUMNS = (
    "id", "kind", "file", "line", "title", "date", "status", "evidence", "tags", "commit",
    "val_bpb", "delta", "pinned", "supersedes", "superseded_by", "snippet", "raw_hash",
)  # fmt: skip
_SCHEMA = (
    "CREATE TABLE files(name TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, sha256 TEXT,"
    " indexed_ns INTEGER)",
    "CREATE TABLE entries(rowid INTEGER PRIMARY KEY, id TEXT, kind TEXT, file TEXT, line INTEGER, title TEXT,"
    " date TEXT, status TEXT, evidence TEXT, tags TEXT, commit_hash TEXT, val_bpb REAL, delta REAL,"
    " pinned INTEGER, supersedes TEXT, superseded_by TEXT, snippet TEXT, raw_hash TEXT)",
    "CREATE INDEX entries_file ON entries(file)",
    "CREATE VIRTUAL TABLE entries_fts USING fts5(title, tags, body,"
    " tokenize='porter unicode61 remove_diacritics 2')",
    f"PRAGMA user_version={SCHEMA_VERSION}",
)


def _reset_schema(conn) -> None:
    """Drop whatever is there and create the current schema (inside the caller's transaction)."""
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'entries_fts_%'"
    ).fetchall()
    for (name,) in tables:
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    for statement in _SCHEMA:
        conn.execute(statement)


def _busy(exc: Exception) -> bool:
    """A lock held by another process (wait or work around it), not a broken file (rebuild it)."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Index:
    """The SQLite cache of one memory folder. Use as a context manager; `refresh()` before reading."""

    def __init__(self, memory_dir: str | os.PathLike):
        self.folder = Path(memory_dir)
        self.path = self.folder / store.INDEX_DIR / INDEX_FILE
        self.conn = None

    def __enter__(self) -> Index:
        self.conn = self._open()
        return self

    def __exit__(self, *exc) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _open(self):
        import sqlite3

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._prepare(sqlite3.connect(self.path, timeout=5.0, isolation_level=None))
        except sqlite3.DatabaseError as exc:
            if not _busy(exc):
                self._delete()  # it is only a cache: a corrupt file is rebuilt from the markdown
                try:
                    return self._prepare(sqlite3.connect(self.path, timeout=5.0, isolation_level=None))
                except sqlite3.DatabaseError:
                    pass
        except OSError:
            pass
        # Unwritable folder, or another process holds the cache too long: an index for this call only.
        return self._prepare(sqlite3.connect(":memory:", isolation_level=None))

    def _delete(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(str(self.path) + suffix)
            except OSError:
                pass

    @staticmethod
    def _prepare(conn):
        conn.execute("PRAGMA busy_timeout=5000")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                _reset_schema(conn)
            conn.execute("COMMIT")
        # A cache: a process crash is safe in WAL mode; after a power cut it may need a rebuild (automatic).
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return conn

    def refresh(self, force: bool = False) -> dict:
        """Re-parse every file whose size, mtime or hash changed (all of them, from scratch, when `force`)."""
        started = time.perf_counter()
        known = {
            row[0]: row[1:]
            for row in self.conn.execute("SELECT name, mtime_ns, size, sha256, indexed_ns FROM files")
        }
        work = []
        touch = []
        for kind, path in store.memory_files(self.folder):
            try:
                st = path.stat()
            except OSError:
                if path.name in known:
                    work.append((kind, path, None, b"", ""))
                continue
            record = known.get(path.name)
            if not force and record and record[0] == st.st_mtime_ns and record[1] == st.st_size:
                if st.st_mtime_ns < record[3] - RACY_NS:
                    continue  # unchanged, and stat is trustworthy
            try:
                data = path.read_bytes()
            except OSError:
                continue
            sha = hashlib.sha256(data).hexdigest()
            if not force and record and record[2] == sha:
                touch.append((st.st_mtime_ns, st.st_size, time.time_ns(), path.name))
                continue
            work.append((kind, path, st, data, sha))
        if touch and not work:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("UPDATE files SET mtime_ns=?, size=?, indexed_ns=? WHERE name=?", touch)
            self.conn.execute("COMMIT")
        count = 0
        problems: list[fmt.Problem] = []
        if work or force:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if force:  # one transaction: readers see the old index or the new one, never an empty one
                    _reset_schema(self.conn)
                    touch = []
                self.conn.executemany("UPDATE files SET mtime_ns=?, size=?, indexed_ns=? WHERE name=?", touch)
                for kind, path, st, data, sha in work:
                    count += self._replace_file(kind, path.name, st, data, sha, problems)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return {
            "files_reindexed": [w[1].name for w in work],
            "entries_indexed": count,
            "problems": problems,
            "seconds": time.perf_counter() - started,
        }

    def _replace_file(self, kind, name, st, data, sha, problems) -> int:
        """Bring one file's rows up to date: entries whose id and text are unchanged are kept as they are."""
        conn = self.conn
        existing: dict[str, list[tuple[int, int]]] = {}
        for rowid, key, line in conn.execute(
            "SELECT rowid, raw_hash, line FROM entries WHERE file=?", (name,)
        ):
            existing.setdefault(key, []).append((rowid, line))
        found: list[fmt.Entry] = []
        if st is not None:
            found, more = store.parse_bytes(data, kind, name)
            problems += more
            _unique_ids(found)
        fresh, moved = [], []
        for entry in found:
            key = hashlib.sha1(f"{entry.id}\0{entry.raw}".encode()).hexdigest()
            bucket = existing.get(key)
            if bucket:
                rowid, line = bucket.pop()
                if not bucket:
                    del existing[key]
                if line != entry.line:
                    moved.append((entry.line, rowid))
            else:
                fresh.append(dict(_row_of(entry), raw_hash=key))
        stale = [(rowid,) for bucket in existing.values() for rowid, _ in bucket]
        conn.executemany("DELETE FROM entries_fts WHERE rowid=?", stale)
        conn.executemany("DELETE FROM entries WHERE rowid=?", stale)
        conn.executemany("UPDATE entries SET line=? WHERE rowid=?", moved)
        start = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM entries").fetchone()[0] + 1
        marks = ",".join("?" * (len(ROW_COLUMNS) + 1))
        conn.executemany(
            f"INSERT INTO entries VALUES ({marks})",
            [(start + i, *(row[c] for c in ROW_COLUMNS)) for i, row in enumerate(fresh)],
        )
        conn.executemany(
            "INSERT INTO entries_fts(rowid, title, tags, body) VALUES (?,?,?,?)",
            [(start + i, r["title"], r["tags"], r["search_body"]) for i, r in enumerate(fresh)],
        )
        conn.execute("DELETE FROM files WHERE name=?", (name,))
        if st is not None:
            conn.execute(
                "INSERT INTO files VALUES (?,?,?,?,?)",
                (name, st.st_mtime_ns, st.st_size, sha, time.time_ns()),
            )
        return len(found)

    def rebuild(self) -> dict:
        return self.refresh(force=True)

    def candidates(self, expression: str, kind: str | None, limit: int, exclude: set[str]) -> list[dict]:
        sql = (
            "SELECT e.id, e.kind, e.file, e.line, e.title, e.date, e.status, e.evidence, e.tags,"
            " e.commit_hash, e.val_bpb, e.delta, e.pinned, e.superseded_by, e.snippet,"
            f" bm25(entries_fts, {WEIGHTS[0]}, {WEIGHTS[1]}, {WEIGHTS[2]}) AS rank"
            " FROM entries_fts JOIN entries e ON e.rowid = entries_fts.rowid WHERE entries_fts MATCH ?"
        )
        params: list = [expression]
        if kind:
            sql += " AND e.kind = ?"
            params.append(kind)
        sql += " ORDER BY rank LIMIT ?"
        params.append(limit + len(exclude))
        names = ("id", "kind", "file", "line", "title", "date", "status", "evidence", "tags", "commit")
        names += ("val_bpb", "delta", "pinned", "superseded_by", "snippet")
        rows = []
        for values in self.conn.execute(sql, params):
            row = dict(zip(names, values[:-1], strict=True))
            if row["id"] in exclude:
                continue
            row["bm25"] = -values[-1]  # SQLite's bm25 is negative: more negative is better
            rows.append(row)
        return rows[:limit]

    def superseded_ids(self) -> set[str]:
        ids: set[str] = set()
        for (value,) in self.conn.execute("SELECT supersedes FROM entries WHERE supersedes != ''"):
            ids.update(value.split())
        return ids

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


# --- the pure-Python backend (no FTS5) ---

_STEP_SUFFIXES = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("fulness", "ful"),
    ("iveness", "ive"),
    ("ation", "ate"),
    ("ness", ""),
    ("ment", ""),
    ("ence", ""),
    ("ance", ""),
    ("able", ""),
    ("ible", ""),
    ("ity", ""),
    ("ful", ""),
    ("ly", ""),
)


def light_stem(word: str) -> str:
    """A small English suffix stripper (Porter-like for common endings), for the fallback only."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and not word.endswith("us"):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if (
            word.endswith(suffix)
            and len(word) - len(suffix) >= 3
            and re.search(r"[aeiouy]", word[: -len(suffix)])
        ):
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    for suffix, replacement in _STEP_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    if word.endswith("y") and len(word) > 3:
        word = word[:-1] + "i"
    return word


def py_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return [light_stem(w) for w in fmt.WORD.findall(text)]


class PyIndex:
    """Okapi BM25 over title/tags/body with the FTS5 column weights, built in memory per call."""

    def __init__(self, found: list[fmt.Entry]):
        self.rows = [_row_of(e) for e in found]
        self.docs = [
            (py_tokens(r["title"]), py_tokens(r["tags"]), py_tokens(r["search_body"])) for r in self.rows
        ]
        self.counts = [tuple(Counter(col) for col in doc) for doc in self.docs]
        n = max(1, len(self.docs))
        self.avg = [sum(len(doc[c]) for doc in self.docs) / n or 1.0 for c in range(3)]

    def _tf(self, i: int, col: int, phrase: tuple[str, ...]) -> int:
        if len(phrase) == 1:
            return self.counts[i][col].get(phrase[0], 0)
        seq, k = self.docs[i][col], len(phrase)
        return sum(1 for j in range(len(seq) - k + 1) if tuple(seq[j : j + k]) == phrase)

    def candidates(
        self, groups, operator: str, kind: str | None, limit: int, exclude: set[str]
    ) -> list[dict]:
        stemmed = [tuple(tuple(py_tokens(" ".join(alt))) for alt in group) for group in groups]
        stemmed = [tuple(alt for alt in group if alt) for group in stemmed]
        stemmed = [group for group in stemmed if group]
        n_docs = len(self.docs)
        # tf per (doc, group, alternative, column), and the number of documents holding each alternative
        matches: dict[int, list] = {}
        doc_freq: Counter = Counter()
        first_tokens = {alt[0] for group in stemmed for alt in group}
        for i in range(n_docs):
            if not any(tok in self.counts[i][c] for c in range(3) for tok in first_tokens):
                continue
            per_group = []
            for group in stemmed:
                per_alt = {}
                for alt in group:
                    tfs = tuple(self._tf(i, c, alt) for c in range(3))
                    if any(tfs):
                        per_alt[alt] = tfs
                        doc_freq[alt] += 1
                per_group.append(per_alt)
            matches[i] = per_group
        rows = []
        for i, per_group in matches.items():
            hit_groups = sum(1 for g in per_group if g)
            if hit_groups == 0 or (operator == "AND" and hit_groups < len(per_group)):
                continue
            row = self.rows[i]
            if (kind and row["kind"] != kind) or row["id"] in exclude:
                continue
            score = 0.0
            for per_alt in per_group:
                best = 0.0
                for alt, tfs in per_alt.items():
                    nq = doc_freq[alt]
                    idf = math.log((n_docs - nq + 0.5) / (nq + 0.5))
                    idf = idf if idf > 0 else 1e-6
                    col_score = 0.0
                    for c, tf in enumerate(tfs):
                        if tf:
                            norm = 1 - BM25_B + BM25_B * len(self.docs[i][c]) / self.avg[c]
                            col_score += WEIGHTS[c] * tf * (BM25_K1 + 1) / (tf + BM25_K1 * norm)
                    best = max(best, idf * col_score)
                score += best
            rows.append(dict(row, bm25=score))
        rows.sort(key=lambda r: r["bm25"], reverse=True)
        return rows[:limit]


# --- the entry point both the CLI and tests use ---


def search(
    memory_dir: str | os.PathLike,
    query: str,
    limit: int = 5,
    kind: str | None = None,
    backend: str = "auto",
    today: _date | None = None,
) -> Result:
    groups = query_groups(query)
    if not groups:
        raise SearchError(
            "the query has no words to search for; try e.g. memory_search.py "
            '"batch size" (punctuation is ignored)'
        )
    if limit < 1:
        raise SearchError("--limit must be at least 1")
    today = today or _date.today()
    use_fts = backend == "fts5" or (backend == "auto" and fts5_available())
    pool = max(CANDIDATES, limit)
    found = _fts_candidates(memory_dir, groups, kind, pool, limit) if use_fts else None
    if found is not None:
        strict, loose, superseded = found
    else:
        use_fts = False
        memory = store.load(memory_dir)
        py_index = PyIndex(memory.entries)
        strict = py_index.candidates(groups, "AND", kind, pool, set())
        loose = []
        if len(strict) < limit and len(groups) > 1:
            loose = py_index.candidates(groups, "OR", kind, pool, {r["id"] for r in strict})
        superseded = memory.superseded_ids()
    hits = _rerank(strict, "and", superseded, today)[:limit]
    matched_all = len(hits)
    hits += _rerank(loose, "or", superseded, today)[: limit - len(hits)]
    return Result(query, describe(groups), "fts5" if use_fts else "python", hits, matched_all)


def _fts_candidates(memory_dir, groups, kind, pool: int, limit: int):
    """(AND rows, OR rows, superseded ids) from the cache; None when SQLite keeps failing (then the
    caller ranks in Python). A cache found broken mid-query is deleted and rebuilt once."""
    import sqlite3

    for attempt in range(2):
        try:
            with Index(memory_dir) as index:
                index.refresh()
                strict = index.candidates(fts_expression(groups, "AND"), kind, pool, set())
                loose = []
                if len(strict) < limit and len(groups) > 1:
                    loose = index.candidates(
                        fts_expression(groups, "OR"), kind, pool, {r["id"] for r in strict}
                    )
                return strict, loose, index.superseded_ids()
        except sqlite3.DatabaseError as exc:
            if _busy(exc) or attempt == 1:
                return None
            Index(memory_dir)._delete()
    return None


def reindex(memory_dir: str | os.PathLike) -> dict:
    """Rebuild the cache from the files (FTS5), or just parse them (fallback). Returns counts and time."""
    started = time.perf_counter()
    if fts5_available():
        with Index(memory_dir) as index:
            info = index.rebuild()
            info["entries"] = index.count()
            info["backend"] = "fts5"
            info["index"] = str(index.path)
    else:
        memory = store.load(memory_dir)
        info = {
            "entries": len(memory.entries),
            "problems": memory.problems,
            "backend": "python",
            "index": None,
        }
    info["seconds"] = time.perf_counter() - started
    return info
