"""SessionStart (context after compaction) and PreCompact (snapshots): real hook processes in real repos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from autoresearch import loop
from loop_helpers import git, pre_compact_payload


@pytest.fixture
def night(project):
    """A night in progress: baseline measured, kept and discarded experiments, a run in flight."""
    project.setup_state()
    project.measured_baseline(1.0)
    project.add_row("1111111", 0.991234, "keep", "lr 0.04 beats 0.03")
    project.add_row("2222222", 1.013, "discard", "swiglu mlp")
    project.add_row("3333333", 0.0, "crash", "depth 12 ooms")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    commit = project.commit_change("rope base 20000")
    project.start_flight(sleeper.pid, commit, minutes=2)
    project.flight_commit = commit[:7]
    project.flight_pid = sleeper.pid
    yield project
    sleeper.kill()
    sleeper.wait()


def add_memory(project, n: int, body_chars: int = 0) -> None:
    """Memory entries written by the memory engineer's own store (skipped where it is not installed)."""
    store = pytest.importorskip("memory.store")
    for i in range(n):
        store.add(
            project.cfg.memory_path,
            "learning",
            f"finding number {i} about warmup {i * 7}",
            text=("detail " * (body_chars // 7)) or f"text {i}",
            force=True,
        )


# --- SessionStart ---


def test_after_compact_the_context_has_every_fact(night):
    add_memory(night, 3)
    context = night.session_start("compact")
    assert len(context) <= loop.CONTEXT_MAX_CHARS
    assert context.startswith("autoresearch-pack context after session compact")
    assert "branch autoresearch/t1" in context
    assert "baseline: 1.000500 (" in context  # mean of the two measured baseline runs
    assert "best: 0.991234 (1111111) lr 0.04 beats 0.03" in context
    for row in ("1111111\t0.991234\tkeep", "2222222\t1.013000\tdiscard", "3333333\t0.000000\tcrash"):
        assert row in context
    assert f"in-flight: {night.flight_commit} running for 2m" in context
    assert f"pid {night.flight_pid}" in context
    assert f"Next step: wait: a run of {night.flight_commit} is in flight" in context
    assert ".autoresearch/STOP" in context
    assert "finding number 2 about warmup" in context  # the memory digest


@pytest.mark.parametrize("source", ["startup", "resume", "clear", "compact"])
def test_every_source_gets_the_context(night, source):
    context = night.session_start(source)
    assert f"after session {source}" in context
    assert "Next step:" in context


def test_context_stays_under_the_cap_with_a_huge_ledger_and_memory(project):
    project.setup_state()
    project.measured_baseline(1.0)
    long_desc = "a very long description of a change " * 20
    lines = [f"{i:07x}\t{1 - i * 1e-6:.6f}\t12.5\tdiscard\t{long_desc}{i}" for i in range(1, 20001)]
    with project.cfg.results_path.open("a") as fh:  # 20k rows in one write: the same bytes append_row writes
        fh.write("\n".join(lines) + "\n")
    add_memory(project, 60, body_chars=500)
    context = project.session_start("compact")
    assert len(context) <= loop.CONTEXT_MAX_CHARS
    assert "runs: 20001" in context
    assert "branch autoresearch/t1" in context
    assert "row: 0004e20" in context  # the last row (20000 = 0x4e20), cut to one line
    assert "Memory digest:" in context
    assert "Next step: form the next hypothesis" in context


def test_memory_digest_fills_what_the_status_leaves(project):
    project.setup_state()
    project.measured_baseline(1.0)
    add_memory(project, 200)
    context = project.session_start("compact")
    assert 4000 < len(context) <= loop.CONTEXT_MAX_CHARS
    assert context.rstrip().splitlines()[-1].startswith("Next step:")


def test_off_branch_is_one_line(project):
    project.setup_state()
    git(project.root, "checkout", "-q", "master")
    context = project.session_start("startup")
    assert "\n" not in context
    assert "run t1 belongs to branch autoresearch/t1" in context
    assert "checked-out branch is master" in context


def test_no_state_is_one_line(project):
    context = project.session_start("startup")
    assert context == (
        "autoresearch-pack: no experiment loop is set up here "
        "(uv run scripts/experiment.py setup --tag <tag> starts one)."
    )


def test_malformed_state_is_named(project):
    project.cfg.state_path.mkdir()
    project.cfg.state_file.write_text("{broken")
    context = project.session_start("startup")
    assert "state file is unreadable" in context and "not valid JSON" in context


@pytest.mark.parametrize(
    "raw", [b"", b"garbage", b"\xff\xfe\x00binary", b"[]", b'{"source": 7}', b"{" * 50_000]
)
def test_malformed_stdin_gets_the_context_from_the_project_dir(night, raw):
    out, _ = night.hook("session_start", raw=raw)
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("autoresearch-pack context after session unknown")
    assert "Next step:" in context


def test_broken_library_still_gives_minimal_context(project):
    (project.root / ".claude" / "lib" / "autoresearch" / "loop.py").write_text(
        "raise ImportError('broken')\n"
    )
    out, err = project.hook("session_start", raw=b"{}")
    reply = json.loads(out)
    assert reply["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "loop context unavailable" in reply["hookSpecificOutput"]["additionalContext"]
    assert "ImportError" in err


def test_context_wording_is_factual(night):
    """No shouting or orders aimed at the model: those trip prompt-injection defences (reference §5)."""
    context = night.session_start("compact")
    for phrase in ("IMPORTANT", "MUST", "NEVER", "ignore previous", "You are"):
        assert phrase not in context


# --- PreCompact ---


def test_snapshot_copies_state_results_and_sidecar(night):
    out = night.pre_compact("manual")
    assert out == ""  # never a decision: compaction proceeds
    (snap,) = night.snapshots()
    assert snap.name.endswith("-manual")
    cfg = night.cfg
    assert (snap / "state.json").read_bytes() == cfg.state_file.read_bytes()
    assert (snap / "results.tsv").read_bytes() == cfg.results_path.read_bytes()
    assert (snap / "runs.jsonl").read_bytes() == cfg.sidecar_path.read_bytes()
    assert "best: 0.991234 (1111111)" in (snap / "status.txt").read_text()
    assert json.loads((snap / "state.json").read_text())["in_flight"]["commit"].startswith(
        night.flight_commit
    )


def test_snapshot_leaves_out_a_torn_last_line(night):
    with night.cfg.results_path.open("a") as fh:
        fh.write("4444444\t0.99")  # an append caught half-way
    night.pre_compact()
    (snap,) = night.snapshots()
    assert (snap / "results.tsv").read_text().endswith("depth 12 ooms\n")


def test_snapshots_rotate_to_the_newest_20(night):
    for i in range(loop.SNAPSHOT_KEEP + 3):
        night.add_row(f"{0xA000000 + i:07x}", 1.0, "discard", f"row {i}")
        night.pre_compact("auto")
    snaps = night.snapshots()
    assert len(snaps) == loop.SNAPSHOT_KEEP
    newest = snaps[-1] / "results.tsv"
    assert newest.read_bytes() == night.cfg.results_path.read_bytes()
    assert (snaps[0] / "results.tsv").read_text().endswith("\trow 3\n")  # the three oldest are gone


def test_rotation_never_touches_other_folders(night):
    keep_me = night.cfg.snapshot_dir / "my-notes"
    keep_me.mkdir(parents=True)
    (keep_me / "x.txt").write_text("mine")
    for _ in range(loop.SNAPSHOT_KEEP + 1):
        night.pre_compact()
    assert (keep_me / "x.txt").read_text() == "mine"


@pytest.mark.parametrize("raw", [b"", b"\x00\x01binary", b"[1]", b'{"trigger": "../../etc"}'])
def test_malformed_stdin_still_snapshots(night, raw):
    out, _ = night.hook("pre_compact", raw=raw)
    assert out == ""
    (snap,) = night.snapshots()
    assert snap.name.endswith("-unknown")
    assert (snap / "state.json").exists()


def test_snapshot_works_off_branch_and_without_state(project):
    project.pre_compact()
    assert project.snapshots() == []  # nothing to keep, nothing created
    project.setup_state()
    git(project.root, "checkout", "-q", "master")
    project.pre_compact()
    assert len(project.snapshots()) == 1  # the night's data is kept whatever the branch


def test_a_failing_snapshot_never_blocks_compaction(night):
    """snapshots/ is a plain file (a human's mistake): no snapshot, exit 0, no decision, error on stderr."""
    night.cfg.snapshot_dir.write_text("not a folder")
    out, err = night.hook("pre_compact", pre_compact_payload(night.root, "auto"))
    assert out == ""
    assert "pre_compact hook: FileExistsError" in err


def test_a_long_next_step_is_never_cut(project):
    project.setup_state()
    files = " ".join(f"f{i}.py" for i in range(80))
    long_next = f"restore the protected files: git checkout abc1234 -- {files}"
    project.update_state(last_run={"commit": "d" * 40, "outcome": "ok", "recorded": False, "next": long_next})
    context = project.session_start("compact")
    assert len(long_next) > 300 and f"Next step: {long_next}" in context
