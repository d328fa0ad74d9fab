"""The entry format and its lenient parser: our own entries, hand-edited and legacy variants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from memory import entries as fmt
from memory import store


def parse(text: str, kind: str = "learning"):
    return fmt.parse_text(text, kind, "learnings.md")


def test_rendered_entry_parses_back():
    meta = {
        "date": "2026-11-25",
        "tags": "batch-size, throughput",
        "commit": "a1b2c3d",
        "val_bpb": "0.993800",
        "delta": "-0.004100",
        "status": "keep",
        "evidence": "measured",
        "supersedes": "L-0002",
    }
    text = fmt.render(
        "L-0007", "Halving batch size helps at 300 s", meta, "More steps.\n\n- lr: not a key here"
    )
    found, problems = parse(text)
    assert problems == []
    [entry] = found
    assert (entry.id, entry.title, entry.derived_id) == ("L-0007", "Halving batch size helps at 300 s", False)
    assert entry.tags == ["batch-size", "throughput"]
    assert entry.number("val_bpb") == 0.9938 and entry.number("delta") == -0.0041
    assert (entry.status, entry.evidence, entry.commit, entry.supersedes) == (
        "keep",
        "measured",
        "a1b2c3d",
        ["L-0002"],
    )
    assert entry.body == "More steps.\n\n- lr: not a key here"  # bullets after the blank line are text
    assert entry.raw == text


def test_heading_id_variants():
    text = "\n".join(
        [
            "## [L-0003] Bracketed id",
            "## L-0004: Colon separator",
            "## L-0005 - Dash separator",
            "## L-0006 | Pipe separator ##",
            "## [ADR-001] Use bf16 autocast",
            "## L-0008",
            "## Pre-norm beats post-norm",
            "## L-2 regularization helps",
        ]
    )
    found, problems = parse(text)
    got = [(e.id, e.title) for e in found]
    assert got[:6] == [
        ("L-0003", "Bracketed id"),
        ("L-0004", "Colon separator"),
        ("L-0005", "Dash separator"),
        ("L-0006", "Pipe separator"),
        ("ADR-001", "Use bf16 autocast"),
        ("L-0008", ""),
    ]
    # Titles that merely look like ids keep their full text and get a derived id.
    assert got[6][1] == "Pre-norm beats post-norm" and found[6].derived_id
    assert got[7][1] == "L-2 regularization helps" and found[7].derived_id


def test_heading_without_id_gets_a_stable_derived_id():
    text = "## Warmup does not help\n- date: 2026-11-01\n\nText.\n"
    first = parse(text)[0][0]
    again = parse("# Learnings\n\n" + text.replace("Text.", "Other text."))[0][0]
    assert first.id == again.id == fmt.derived_id("learning", "Warmup does not help")
    assert first.id.startswith("L-h") and first.derived_id
    assert parse(text, "issue")[0][0].id.startswith("I-h")


def test_hand_edited_meta_variants_and_unknown_keys():
    text = (
        "## D-0001 · Use bf16\n"
        "* **Date**: 2026-11-02\n"
        "- **Status:** Accepted\n"
        "- Tags: precision; dtype\n"
        "- owner: alice\n"
        "- Context Note: fp16 needs loss scaling\n"
        "\nDecision text.\n"
    )
    [entry], problems = fmt.parse_text(text, "decision", "decisions.md")
    assert problems == []
    assert entry.date == "2026-11-02" and entry.status == "accepted" and entry.tags == ["precision", "dtype"]
    assert entry.meta["owner"] == "alice" and entry.meta["context_note"] == "fp16 needs loss scaling"
    assert "alice" in entry.extra_text and entry.body == "Decision text."


def test_unreadable_values_are_reported_and_kept():
    text = (
        "## L-0001 · Odd values\n- date: last tuesday\n- val_bpb: about one\n"
        "- evidence: vibes\n- commit: zzz\n\nBody\n"
    )
    [entry], problems = parse(text)
    messages = " ".join(p.message for p in problems)
    for word in ("date", "val_bpb", "evidence", "commit"):
        assert word in messages
    assert entry.meta["val_bpb"] == "about one" and entry.number("val_bpb") is None and entry.date == ""
    assert all(p.line == 1 and p.file == "learnings.md" for p in problems)


def test_legacy_bullets_preamble_and_front_matter():
    text = (
        "---\nschema: autoresearch-memory/1\n---\n"
        "# Learnings\n"
        "<!-- a comment -->\n"
        "Some prose nobody filed under a heading.\n"
        "- [2026-01-02] [PERF] Compile is slow on first call\n"
        "- [2026-01-03] Second legacy note without a tag\n"
        "\n## L-0001 · A real entry\n- date: 2026-11-01\n"
    )
    found, problems = parse(text)
    assert [e.title for e in found] == [
        "Compile is slow on first call",
        "Second legacy note without a tag",
        "A real entry",
    ]
    assert found[0].date == "2026-01-02" and found[0].tags == ["perf"] and found[0].derived_id
    assert len(problems) == 1 and "before the first" in problems[0].message and problems[0].line == 6


def test_code_fences_and_subheadings_stay_in_the_body():
    text = (
        "## L-0001 · Entry with code\n- date: 2026-11-01\n\n"
        "```markdown\n## not a heading\n```\n### Details\nmore\n"
        "## L-0002 · Next\n"
    )
    found, problems = parse(text)
    assert [e.id for e in found] == ["L-0001", "L-0002"] and problems == []
    assert "## not a heading" in found[0].body and "### Details" in found[0].body


def test_unclosed_fence_does_not_swallow_later_entries():
    text = "## L-0001 · Broken\n\n```python\nx = 1\n## L-0002 · Still an entry\n- date: 2026-11-02\n"
    found, problems = parse(text)
    assert [e.id for e in found] == ["L-0001", "L-0002"]
    assert any("never closed" in p.message for p in problems)


def test_crlf_non_utf8_and_duplicate_ids(tmp_path):
    (tmp_path / "learnings.md").write_bytes(
        b"## L-0001 \xc2\xb7 First\r\n- date: 2026-11-01\r\n\r\nBad byte \xff here\r\n\r\n"
        b"## L-0001 \xc2\xb7 Again\r\n"
    )
    memory = store.load(tmp_path)
    assert [e.id for e in memory.entries] == ["L-0001", "L-0001-2"]
    assert memory.entries[0].title == "First" and memory.entries[0].date == "2026-11-01"
    messages = [p.message for p in memory.problems]
    assert any("UTF-8" in m for m in messages) and any("used twice" in m for m in messages)


def test_empty_inputs():
    assert parse("") == ([], [])
    assert parse("# Learnings\n\n") == ([], [])
    found, problems = parse("##\n")
    assert len(found) == 1 and problems and "without a title" in problems[0].message


def test_safe_body_cannot_open_entries():
    body = fmt.safe_body("## injected heading\n```\n## inside fence\n")
    text = fmt.render("L-0001", "T", {"date": "2026-11-01"}, body)
    found, problems = parse(text)
    assert len(found) == 1 and problems == []
    assert "### injected heading" in found[0].body and found[0].body.endswith("```")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#-*[]:`~ \nLID0123456789abc·|_\r\t**é")), max_size=300))
def test_parser_never_raises(text):
    found, problems = parse(text)
    for entry in found:
        assert isinstance(entry.id, str) and entry.id
        assert isinstance(entry.to_dict(), dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["#", "##", "###", "\n", "a", " ", "\r\n"]), max_size=40).map("".join))
def test_split_blocks_matches_the_line_regex(text):
    import re

    assert fmt.split_blocks(text) == re.split(r"(?m)^(?=##(?!#))", text)
