"""Writes (locking, atomic replace, dedup, input checks), survival across git resets, the digest."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from memory import entries as fmt
from memory import store
from memory_helpers import (
    CLI,
    REPO_ROOT,
    make_corpus,
    run_cli,
)


def test_add_creates_files_and_numbers_ids_per_kind(tmp_path):
    folder = tmp_path / "new" / "memory"
    a = store.add(
        folder, "learning", "First learning", text="Body.", tags=["Batch-Size", " lr "], today="2026-11-25"
    )
    b = store.add(folder, "learning", "Second learning about warmup", today="2026-11-25")
    c = store.add(folder, "issue", "First issue", fields={"status": "open"}, today="2026-11-25")
    assert [a.entry.id, b.entry.id, c.entry.id] == ["L-0001", "L-0002", "I-0001"]
    assert a.added and a.entry.tags == ["batch-size", "lr"]
    text = (folder / "learnings.md").read_text(encoding="utf-8")
    assert text.startswith("# Learnings\n")
    assert (
        "## L-0001 · First learning\n- date: 2026-11-25\n- tags: batch-size, lr\n\nBody.\n\n## L-0002" in text
    )
    memory = store.load(folder)
    assert memory.problems == [] and [e.id for e in memory.entries] == ["L-0001", "L-0002", "I-0001"]
    assert memory.find("l-0002").line == b.entry.line


def test_ids_continue_after_hand_edits_without_trailing_newline(tmp_path):
    (tmp_path / "learnings.md").write_text("## L-0041 · Hand written\nno final newline", encoding="utf-8")
    result = store.add(tmp_path, "learning", "Next one")
    assert result.entry.id == "L-0042"
    memory = store.load(tmp_path)
    assert [e.id for e in memory.entries] == ["L-0041", "L-0042"] and memory.entries[
        0
    ].body == "no final newline"


def test_exact_duplicate_returns_the_existing_id(tmp_path):
    first = store.add(
        tmp_path, "learning", "Halving batch size helps", text="More steps.", fields={"commit": "a1b2c3d"}
    )
    before = (tmp_path / "learnings.md").read_bytes()
    again = store.add(
        tmp_path,
        "learning",
        "  halving BATCH size   helps ",
        text="more steps.",
        fields={"commit": "a1b2c3d"},
    )
    assert not again.added and again.entry.id == first.entry.id == "L-0001"
    assert (tmp_path / "learnings.md").read_bytes() == before
    # The same words with another commit are another measurement, not a duplicate.
    other = store.add(
        tmp_path,
        "learning",
        "Halving batch size helps",
        text="More steps.",
        fields={"commit": "b2c3d4e"},
        force=True,
    )
    assert other.added and other.entry.id == "L-0002"


def test_near_duplicate_needs_force(tmp_path):
    store.add(tmp_path, "learning", "Halving the batch size helps at 300 s", text="More optimizer steps win.")
    before = (tmp_path / "learnings.md").read_bytes()
    with pytest.raises(store.NearDuplicate) as info:
        store.add(tmp_path, "learning", "Halving batch size helps at 300 s!", text="More optimizer steps win")
    assert "L-0001" in str(info.value) and "--force" in str(info.value)
    assert (
        info.value.matches[0][0].id == "L-0001" and info.value.matches[0][1] >= store.NEAR_DUPLICATE_JACCARD
    )
    assert (tmp_path / "learnings.md").read_bytes() == before
    forced = store.add(
        tmp_path,
        "learning",
        "Halving batch size helps at 300 s!",
        text="More optimizer steps win",
        force=True,
    )
    assert forced.added and forced.entry.id == "L-0002" and forced.near[0][0].id == "L-0001"
    # A different insight with some shared words is not a near-duplicate.
    assert store.add(tmp_path, "learning", "Halving the learning rate hurts", text="Slower.").added


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": ""}, "title is empty"),
        ({"title": " \n\t "}, "title is empty"),
        ({"title": "x" * 201}, "201 characters"),
        ({"title": "ok", "text": "y" * 8001}, "8001 characters"),
        ({"title": "ok", "tags": ["t" * 400]}, "tags"),
        ({"title": "ok", "kind": "idea"}, "unknown kind"),
        ({"title": "ok", "fields": {"supersedes": "L-0999"}}, "L-0999"),
        ({"title": "nul \x00 byte"}, "NUL"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path, kwargs, message):
    store.add(tmp_path, "learning", "Existing entry")
    before = (tmp_path / "learnings.md").read_bytes()
    kwargs = {"kind": "learning", **kwargs}
    with pytest.raises(store.StoreError) as info:
        store.add(tmp_path, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert (tmp_path / "learnings.md").read_bytes() == before


def test_text_with_headings_stays_one_entry(tmp_path):
    store.add(tmp_path, "issue", "Crash with a pasted log", text="## Traceback\n```\n## not an entry")
    store.add(tmp_path, "issue", "Second issue")
    memory = store.load(tmp_path)
    assert [e.id for e in memory.entries] == ["I-0001", "I-0002"] and memory.problems == []


@pytest.mark.parametrize("lock", ["filelock", "flock"])
def test_eight_processes_adding_at_once_lose_nothing(tmp_path, lock):
    """Real subprocesses through the CLI: 8 writers x 5 entries, started together, with either lock."""
    # The flock variant hides site-packages (-I -S), as a bare system python3 without filelock would be.
    flags = ["-I", "-S"] if lock == "flock" else []
    if lock == "flock":
        probe = subprocess.run([sys.executable, "-I", "-S", "-c", "import filelock"], capture_output=True)
        assert probe.returncode != 0, "filelock must be unimportable for this variant"
    script = textwrap.dedent(
        f"""
        import subprocess, sys
        worker = sys.argv[1]
        for n in range(5):
            out = subprocess.run([sys.executable, *{flags!r}, {str(CLI)!r}, "add", "--dir", {str(tmp_path)!r},
                "--kind", "learning", "--title", f"worker {{worker}} finding {{n}} zq{{worker}}x{{n}}",
                "--text", f"distinct body {{worker}}-{{n}}", "--force"], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(out.stderr)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    memory = store.load(tmp_path)
    assert memory.problems == []
    assert len(memory.entries) == 40
    assert sorted(e.id for e in memory.entries) == [f"L-{n:04d}" for n in range(1, 41)]
    assert {e.title for e in memory.entries} == {
        f"worker {w} finding {n} zq{w}x{n}" for w in range(8) for n in range(5)
    }
    leftovers = [p.name for p in (tmp_path / store.INDEX_DIR).iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout


def test_memory_survives_git_reset_hard_and_git_clean(tmp_path):
    """A real repo with the pack's .gitignore: a discard (reset --hard HEAD~1) and clean -fd keep memory."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    shutil.copy(REPO_ROOT / ".gitignore", repo / ".gitignore")
    memory_dir = repo / ".claude" / "context" / "memory"
    memory_dir.mkdir(parents=True)
    (memory_dir / "README.md").write_text("# Memory\n")
    (repo / "train.py").write_text("lr = 0.04\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    # The experiment: edit train.py, commit, and write memory during the run.
    (repo / "train.py").write_text("lr = 0.06\n")
    git(repo, "commit", "-qam", "try lr 0.06")
    out = run_cli(
        "add", "--dir", memory_dir, "--kind", "issue", "--title", "lr 0.06 diverges", "--text", "nan at 300"
    )
    assert out.returncode == 0, out.stderr
    store.add(memory_dir, "learning", "Keep lr at 0.04", fields={"evidence": "measured"})
    run_cli("--dir", memory_dir, "diverges")  # builds the .index cache
    (repo / "scratch").mkdir()
    (repo / "scratch" / "junk.txt").write_text("untracked, not ignored")
    before = {p.name: p.read_bytes() for p in memory_dir.glob("*.md")}
    assert set(before) == {"README.md", "learnings.md", "issues.md"}
    assert "memory" not in git(repo, "status", "--porcelain")  # never offered for staging
    ignored = git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert (
        "!! .claude/context/memory/learnings.md" in ignored and "!! .claude/context/memory/.index/" in ignored
    )
    assert git(repo, "check-ignore", ".claude/context/memory/learnings.md").strip()
    assert (
        subprocess.run(["git", "check-ignore", "-q", ".claude/context/memory/README.md"], cwd=repo).returncode
        == 1
    )

    git(repo, "reset", "--hard", "HEAD~1")
    git(repo, "clean", "-fd")
    assert (repo / "train.py").read_text() == "lr = 0.04\n"
    assert not (repo / "scratch").exists()  # clean did run
    assert {p.name: p.read_bytes() for p in memory_dir.glob("*.md")} == before
    assert (memory_dir / store.INDEX_DIR / "memory.sqlite3").exists()
    assert [e.id for e in store.load(memory_dir).entries] == ["L-0001", "I-0001"]
    out = run_cli("--dir", memory_dir, "--json", "diverges")
    assert '"I-0001"' in out.stdout


# --- digest ---


def test_digest_is_newest_first_prioritised_and_capped(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    text = store.digest_text(corpus_dir, 2500)
    assert len(text) <= 2500
    lines = text.splitlines()
    assert lines[0].startswith("Memory: 18 learnings, 7 issues, 7 decisions")
    learn = [line for line in lines if line.startswith("- L-")]
    assert learn[0].startswith("- L-0018") and learn[1].startswith("- L-0017")  # newest first
    assert "- D-0006" not in text  # superseded by D-0007
    assert "- I-0004" not in text  # resolved issues are not open
    assert "Open issues:" in text and "Decisions:" in text
    assert "(Δ-0.0041, a1b2c3d, keep)" in text or "L-0001" not in text
    for cap in (1, 10, 80, 200, 400, 1000):
        assert len(store.digest_text(corpus_dir, cap)) <= cap
    small = store.digest_text(corpus_dir, 700)
    assert "more: see list" in small
    assert all(f"{name}:" in small for name in ("Learnings", "Open issues", "Decisions"))  # every kind fits


def test_digest_shows_pinned_first(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    store.add(corpus_dir, "decision", "Never touch prepare.py", fields={"pinned": "true"}, today="2020-01-01")
    text = store.digest_text(corpus_dir, 400)
    assert text.splitlines()[1] == "Pinned:" and "D-0008" in text.splitlines()[2]


@pytest.mark.parametrize("setup", ["missing", "file_not_dir", "md_is_dir", "garbage"])
def test_digest_never_raises(tmp_path, setup):
    folder = tmp_path / "memory"
    if setup == "file_not_dir":
        folder.write_text("not a folder")
    elif setup == "md_is_dir":
        (folder / "learnings.md").mkdir(parents=True)
    elif setup == "garbage":
        folder.mkdir()
        (folder / "issues.md").write_bytes(b"\xff\xfe\x00## \x00\n" * 50 + bytes(range(256)))
    text = store.digest_text(folder, 300)
    assert isinstance(text, str) and 0 < len(text) <= 300
    assert store.digest_text(folder, 0) == "" and store.digest_text(folder, -5) == ""


def test_digest_is_stdlib_only_under_isolated_python(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from memory import store; "
        "text = store.digest_text(sys.argv[2], 2000); "
        "assert 'filelock' not in sys.modules and 'sqlite3' not in sys.modules, sorted(sys.modules); "
        "print(text)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(REPO_ROOT / ".claude" / "lib"), str(corpus_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Memory: 18 learnings")


def test_entry_format_constants_match_the_files():
    assert {name for _, name, _ in fmt.KINDS.values()} == {"learnings.md", "issues.md", "decisions.md"}
