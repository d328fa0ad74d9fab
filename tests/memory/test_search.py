"""Retrieval: known-answer ranking on both backends, hostile queries, ranking factors, cache freshness."""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest
from memory import search, store
from memory_helpers import TODAY, cli, corpus, make_corpus

BACKENDS = ("fts5", "python")


@pytest.mark.parametrize("backend", BACKENDS)
def test_known_answer_ranking(tmp_path, backend):
    corpus_dir = make_corpus(tmp_path)
    misses = []
    for query, expected in corpus.QUERIES:
        result = search.search(corpus_dir, query, limit=3, backend=backend, today=TODAY)
        top = result.hits[0].id if result.hits else None
        if top != expected:
            misses.append((query, expected, [h.id for h in result.hits]))
    assert len(corpus.QUERIES) >= 30
    assert misses == []


HOSTILE = [
    '"unbalanced quote batch',
    "NEAR(batch size)",
    "batch AND OR NOT size",
    "batch* ^size",
    "-batch +size",
    "title:batch",
    "tags:oom body:memory",
    "{title tags}: batch",
    "c++ a-b batch",
    "'single' quotes batch",
    "(batch",
    "batch)",
    "batch \x00 size",
    "über größe batch",
    "批量大小 batch",
    "🚀 batch size",
    "batch " * 500,
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_are_plain_words(tmp_path, backend, query):
    corpus_dir = make_corpus(tmp_path)
    result = search.search(corpus_dir, query, limit=5, backend=backend, today=TODAY)
    assert result.hits, result.terms  # every one of them contains a word that matches something
    assert all('"' not in term and ":" not in term and "*" not in term for term in result.terms)
    if "batch" in query:
        assert "L-0001" in [h.id for h in result.hits]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("query", ["", "   ", "***", '""', "-- ^ :", "🚀"])
def test_empty_queries_are_a_clear_error(tmp_path, backend, query):
    corpus_dir = make_corpus(tmp_path)
    with pytest.raises(search.SearchError, match="no words"):
        search.search(corpus_dir, query, backend=backend)


def test_query_preparation():
    groups = search.query_groups("The batch size of the OOM, at learning rate 0.04")
    assert search.describe(groups) == ["bs|batch size", "oom|out of memory", "lr|learning rate", "0", "04"]
    assert search.fts_expression(groups[:2], "AND") == '("bs" OR "batch size") AND ("oom" OR "out of memory")'
    assert search.describe(search.query_groups("the of and")) == [
        "the",
        "of",
        "and",
    ]  # only stopwords: keep them


@pytest.mark.parametrize("backend", BACKENDS)
def test_unicode_and_diacritics(tmp_path, backend):
    store.add(
        tmp_path, "learning", "Café résumé: naïve tokenizer handles Größe", text="Ünïcödé body 批量大小"
    )
    for query in ("cafe resume", "naive", "CAFÉ", "批量大小", "unicode"):
        hits = search.search(tmp_path, query, backend=backend).hits
        assert [h.id for h in hits] == ["L-0001"], query


@pytest.mark.parametrize("backend", BACKENDS)
def test_and_first_then_or_fallback(tmp_path, backend):
    corpus_dir = make_corpus(tmp_path)
    result = search.search(corpus_dir, "halving zebra", limit=5, backend=backend, today=TODAY)
    assert result.matched_all == 0 and result.hits[0].id == "L-0001"
    assert result.hits[0].explain["tier"].startswith("some terms")
    # Entries matching every term come before entries matching some.
    result = search.search(corpus_dir, "batch budget", limit=10, backend=backend, today=TODAY)
    assert result.matched_all >= 1
    assert result.hits[0].id == "L-0001"
    tiers = [h.explain["tier"] for h in result.hits]
    assert tiers == sorted(tiers)  # "all terms" < "some terms ..."


def _two(tmp_path, first_meta: dict, second_meta: dict):
    text = "# Learnings\n\n"
    for n, meta in ((1, first_meta), (2, second_meta)):
        lines = "".join(f"- {k}: {v}\n" for k, v in meta.items())
        text += f"## L-000{n} · Embedding learning rate finding\n{lines}\nSame words in both entries.\n\n"
    (tmp_path / "learnings.md").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("backend", BACKENDS)
def test_recency_boost_prefers_the_newer_of_equals(tmp_path, backend):
    folder = _two(tmp_path, {"date": "2026-10-01"}, {"date": "2026-11-24"})
    hits = search.search(folder, "embedding finding", backend=backend, today=TODAY).hits
    assert [h.id for h in hits] == ["L-0002", "L-0001"]
    assert hits[0].explain["recency"] > hits[1].explain["recency"] >= 1.0
    assert hits[0].explain["recency"] <= 1.0 + search.RECENCY_BOOST  # mild: at most +25%


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypothesis_and_superseded_are_down_weighted(tmp_path, backend):
    folder = _two(
        tmp_path,
        {"date": "2026-11-24", "evidence": "measured"},
        {"date": "2026-11-24", "evidence": "hypothesis"},
    )
    hits = search.search(folder, "embedding finding", backend=backend, today=TODAY).hits
    assert [h.id for h in hits] == ["L-0001", "L-0002"] and hits[1].explain["evidence_weight"] == 0.8
    folder = _two(tmp_path, {"date": "2026-11-24", "status": "obsolete"}, {"date": "2026-11-01"})
    hits = search.search(folder, "embedding finding", backend=backend, today=TODAY).hits
    assert [h.id for h in hits] == ["L-0002", "L-0001"] and hits[1].superseded
    assert hits[1].explain["status_weight"] == search.SUPERSEDED_WEIGHT


@pytest.mark.parametrize("backend", BACKENDS)
def test_supersedes_pinned_and_kind_filter(tmp_path, backend):
    corpus_dir = make_corpus(tmp_path)
    hits = search.search(corpus_dir, "evaluation tokens", backend=backend, today=TODAY).hits
    assert [h.id for h in hits][:2] == ["D-0007", "D-0006"] and hits[1].superseded and not hits[0].superseded
    hits = search.search(corpus_dir, "embeddings", kind="issue", backend=backend, today=TODAY).hits
    assert hits and all(h.kind == "issue" for h in hits)
    store.add(corpus_dir, "learning", "Embeddings note to pin", fields={"pinned": "true"}, today="2026-01-01")
    hits = search.search(corpus_dir, "embeddings", limit=10, backend=backend, today=TODAY).hits
    pinned = next(h for h in hits if h.pinned)
    assert pinned.explain["pinned_bonus"] == search.PINNED_BONUS


def test_both_backends_return_the_same_interface(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    a = search.search(corpus_dir, "batch size", backend="fts5", today=TODAY)
    b = search.search(corpus_dir, "batch size", backend="python", today=TODAY)
    assert (a.backend, b.backend) == ("fts5", "python")
    assert a.hits[0].to_dict(explain=True).keys() == b.hits[0].to_dict(explain=True).keys()
    assert a.hits[0].id == b.hits[0].id


def test_cache_follows_every_kind_of_file_change(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    assert search.search(corpus_dir, "zebra").hits == []
    store.add(corpus_dir, "learning", "Zebra striped init", text="new")
    assert [h.id for h in search.search(corpus_dir, "zebra").hits] == ["L-0019"]
    # A same-size hand edit within the mtime tick is still seen (re-hash while the stat is recent).
    path = corpus_dir / "learnings.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Zebra", "Okapi"), encoding="utf-8")
    assert search.search(corpus_dir, "zebra").hits == []
    assert [h.id for h in search.search(corpus_dir, "okapi").hits] == ["L-0019"]
    path.unlink()
    assert search.search(corpus_dir, "okapi").hits == []
    assert search.search(corpus_dir, "oom").hits[0].id == "I-0001"


def test_corrupt_or_old_cache_is_rebuilt(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    search.search(corpus_dir, "oom")
    db = corpus_dir / store.INDEX_DIR / search.INDEX_FILE
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    assert search.search(corpus_dir, "oom").hits[0].id == "I-0001"
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == search.SCHEMA_VERSION
    for suffix in ("-wal", "-shm"):
        (corpus_dir / store.INDEX_DIR / (search.INDEX_FILE + suffix)).unlink(missing_ok=True)
    conn = sqlite3.connect(db)  # opens fine, breaks at query time
    conn.execute("DROP TABLE entries_fts")
    conn.commit()
    conn.close()
    result = search.search(corpus_dir, "oom")
    assert result.backend == "fts5" and result.hits[0].id == "I-0001"
    db.write_bytes(b"this is not a database" * 100)
    assert search.search(corpus_dir, "oom").hits[0].id == "I-0001"
    assert search.reindex(corpus_dir)["entries"] == 32


def test_unwritable_index_folder_still_searches(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    (corpus_dir / store.INDEX_DIR).write_text("a file where the folder should be")
    assert search.search(corpus_dir, "oom").hits[0].id == "I-0001"


def test_fallback_when_sqlite3_cannot_be_imported(tmp_path, monkeypatch):
    corpus_dir = make_corpus(tmp_path)
    monkeypatch.setitem(sys.modules, "sqlite3", None)  # `import sqlite3` now raises ImportError
    monkeypatch.setattr(search, "_FTS5", None)
    assert search.fts5_available() is False
    result = search.search(corpus_dir, "out of memory", today=TODAY)
    assert result.backend == "python" and result.hits[0].id == "I-0001"
    assert search.reindex(corpus_dir)["backend"] == "python"


def test_fallback_forced_through_the_environment(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    out = cli("--dir", corpus_dir, "--json", "tokenizer reboot", env_extra={search.NO_FTS5_ENV: "1"})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["backend"] == "python" and data["results"][0]["id"] == "I-0007"
    stats = json.loads(
        cli("stats", "--dir", corpus_dir, "--json", env_extra={search.NO_FTS5_ENV: "1"}).stdout
    )
    assert stats["backend"] == "python"
