"""The keeper (autoresearch.keeper): the night's data survives whatever a tool call did to it.

Each destructive command runs with bash in a real git repo; then the real PostToolUse hook runs as Claude Code
starts it (`python3 -I -S .claude/hooks/post_tool_use.py`, JSON on stdin). The test judges the effect: the
exact bytes of the ledger, the sidecar, the state and the memory files afterwards, and the one sentence the
agent is told.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from autoresearch import config, keeper, ledger, runner, state
from guard_helpers import REPO, git, make_project
from memory import store

HOOK = REPO / ".claude" / "hooks" / "post_tool_use.py"
ROWS = [
    "a1b2c3d\t0.997900\t0.1\tkeep\tbaseline",
    "b2c3d4e\t0.991000\t0.1\tkeep\thalve the batch",
    "c3d4e5f\t0.000000\t0.0\tcrash\twider mlp (oom)",
]
LEDGER = ledger.HEADER + "\n" + "".join(row + "\n" for row in ROWS)
SIDECAR = "".join(json.dumps({"commit": row.split("\t")[0] * 5, "n": i}) + "\n" for i, row in enumerate(ROWS))
LEDGER_WAY = "append rows with `uv run scripts/experiment.py record ...`"


# --- a project with a night in it ---


def night(tmp_path: Path) -> Path:
    """A real git repo laid out like this one, with three rows, a state, a sidecar and two memory entries."""
    root = make_project(tmp_path / "proj", ignore_data=True)
    cfg = config.load(root)
    cfg.results_path.write_text(LEDGER)
    cfg.sidecar_path.write_text(SIDECAR)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    st = state.new_state("nov25", "main", head, {"prepare.py": "0" * 64}, 2, 0.006)
    state.save(cfg, st)
    for name in ("learnings.md", "issues.md"):
        (cfg.memory_path / name).unlink()
    store.add(
        cfg.memory_path, "learning", "Halving the batch helps at 300 s", "More steps beat bigger batches."
    )
    store.add(cfg.memory_path, "issue", "OOM at depth 12", "Peak memory exceeded.", tags=["oom"])
    return root


def kept_bytes(root: Path) -> dict[str, bytes | None]:
    cfg = config.load(root)
    paths = [cfg.results_path, cfg.sidecar_path, cfg.state_file]
    paths += [cfg.memory_path / name for name in ("learnings.md", "issues.md", "decisions.md")]
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in paths}


def hook(root: Path, payload: dict | None = None, event: str = "PostToolUse") -> tuple[str, str]:
    """The real hook's (additionalContext or '', stderr), started as settings.json starts it."""
    payload = payload or {"hook_event_name": event, "tool_name": "Bash", "tool_input": {"command": "x"}}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=60,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
    )
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    if not proc.stdout:
        return "", proc.stderr.decode()
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == event
    return out["additionalContext"], proc.stderr.decode()


def bash(root: Path, command: str) -> None:
    subprocess.run(["bash", "-c", command], cwd=root, capture_output=True, timeout=60)


# --- every destruction comes back, byte for byte ---

DESTRUCTIONS = {
    "git clean -fdx": ["results.tsv", ".autoresearch/state.json", "learnings.md"],
    "gzip results.tsv": ["results.tsv"],
    "rm -rf .autoresearch": [".autoresearch/state.json", ".autoresearch/runs.jsonl"],
    "mv results.tsv {tmp}/elsewhere.tsv": ["results.tsv"],
    "python3 -c \"open('results.tsv', 'w')\"": ["results.tsv"],
    "python3 -c \"import glob, os; os.remove(glob.glob('res*.tsv')[0])\"": ["results.tsv"],
    "tar czf {tmp}/night.tgz results.tsv --remove-files": ["results.tsv"],
    'echo -e "commit\\tval_bpb\\tmemory_gb\\tstatus\\tdescription" > results.tsv': ["results.tsv"],
    "sed -i 's/0.991000/0.950000/' results.tsv": ["results.tsv"],
    "ln -sf /dev/null results.tsv": ["results.tsv"],
    "git stash -a": ["results.tsv"],
    "echo 'null' > .autoresearch/state.json": [".autoresearch/state.json"],
    "rm .claude/context/memory/learnings.md": ["learnings.md"],
    "rm -rf .claude/context/memory": ["learnings.md", "issues.md"],
    "python3 -c \"open('.claude/context/memory/issues.md', 'w').write('# nothing here')\"": ["issues.md"],
}


# --- the STOP sentinel is the human's switch: only `experiment.py stop` raises or lowers it ---

CLI = REPO / "scripts" / "experiment.py"


def stop_cli(root: Path, *args: str, agent: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(root)}
    env.pop("CLAUDECODE", None)
    if agent:
        env["CLAUDECODE"] = "1"
    return subprocess.run([sys.executable, str(CLI), "stop", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        "touch .autoresearch/STOP",
        "echo stop > .autoresearch/STOP",
        "python3 -c \"open('.autoresearch/STOP','w')\"",
    ],
)
def test_a_stop_the_human_did_not_raise_is_taken_away(tmp_path, command):
    root = night(tmp_path)
    assert hook(root) == ("", "")
    bash(root, command)
    assert (root / ".autoresearch" / "STOP").exists(), "the command raised nothing: it proves nothing"
    text, _ = hook(root)
    assert not (root / ".autoresearch" / "STOP").exists()
    assert "was not raised by the human" in text and "experiment.py stop` in their own terminal" in text


def test_the_humans_stop_stays_and_comes_back_until_they_resume(tmp_path):
    root = night(tmp_path)
    assert hook(root) == ("", "")
    raised = stop_cli(root)
    assert raised.returncode == 0 and "stop raised: .autoresearch/STOP" in raised.stdout, raised.stderr
    assert hook(root) == ("", ""), "the human's stop: nothing to undo"
    assert (root / ".autoresearch" / "STOP").exists()
    bash(root, "rm .autoresearch/STOP")  # a call lowers it: put back
    text, _ = hook(root)
    assert (root / ".autoresearch" / "STOP").exists() and "the human's .autoresearch/STOP was removed" in text
    bash(root, "echo forged > .autoresearch/STOP")  # or rewrites it: the token is gone, so is the stop
    text, _ = hook(root)
    assert "not raised by the human" in text and not (root / ".autoresearch" / "STOP").exists()
    assert stop_cli(root).returncode == 0
    resumed = stop_cli(root, "--resume")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    assert hook(root) == ("", "") and not (root / ".autoresearch" / "STOP").exists()


def test_the_agent_cannot_raise_a_stop_through_the_cli(tmp_path):
    root = night(tmp_path)
    refused = stop_cli(root, agent=True)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "only the human stops the night" in refused.stderr
    assert not (root / ".autoresearch" / "STOP").exists()


# --- what git ignores: a call that un-ignores the night's data gets .gitignore put back ---

UNIGNORES = {
    "sed -i '/^results.tsv$/d' .gitignore": "results.tsv",
    "echo '!results.tsv' >> .gitignore": "results.tsv",
    "printf '!run.log\\n' >> .gitignore": "run.log",
    "mv .gitignore gi.bak": "results.tsv",
    "cp /dev/null .gitignore": ".autoresearch/state.json",
    "printf '!*\\n' >> .gitignore": "results.tsv",
    "sed -i 's|^.claude/context/memory/\\*.md$|!&|' .gitignore": "memory/learnings.md",
}


def ignored(root: Path, rel: str) -> bool:
    return subprocess.run(["git", "check-ignore", "--no-index", "-q", rel], cwd=root).returncode == 0


@pytest.mark.parametrize("command", list(UNIGNORES))
def test_a_call_that_unignores_the_data_gets_gitignore_back(tmp_path, command):
    root = night(tmp_path)
    shipped = (root / ".gitignore").read_bytes()
    probes = ["results.tsv", "run.log", ".autoresearch/state.json", ".claude/context/memory/learnings.md"]
    assert all(ignored(root, p) for p in probes)
    assert hook(root) == ("", "")
    bash(root, command)
    assert not all(ignored(root, p) for p in probes), "the command un-ignored nothing: it proves nothing"
    text, _ = hook(root)
    assert (root / ".gitignore").read_bytes() == shipped and all(ignored(root, p) for p in probes)
    assert text.startswith("autoresearch keeper: git stopped ignoring ") and UNIGNORES[command] in text, text
    assert "stage files by name" in text


def test_an_edit_that_keeps_the_data_ignored_is_left_and_becomes_the_copy(tmp_path):
    root = night(tmp_path)
    assert hook(root) == ("", "")
    bash(root, "echo results.tsv >> .gitignore && echo '*.ckpt' >> .gitignore")
    edited = (root / ".gitignore").read_bytes()
    assert hook(root) == ("", ""), "an honest edit: nothing to say"
    assert (root / ".gitignore").read_bytes() == edited
    bash(root, "echo '!results.tsv' >> .gitignore")
    text, _ = hook(root)
    assert (root / ".gitignore").read_bytes() == edited, "put back as the honest edit left it"
    assert "results.tsv" in text


@pytest.mark.parametrize(
    "planted", [".claude/context/memory/.gitignore", ".claude/context/.gitignore", ".claude/.gitignore"]
)
def test_a_gitignore_planted_deeper_that_unignores_memory_is_removed(tmp_path, planted):
    root = night(tmp_path)
    assert hook(root) == ("", "")
    pattern = "!*.md" if planted.endswith("memory/.gitignore") else "!**/memory/*.md"
    bash(root, f"echo '{pattern}' > {planted}")
    assert not ignored(root, ".claude/context/memory/learnings.md"), "nothing un-ignored: it proves nothing"
    text, _ = hook(root)
    assert not (root / planted).exists() and ignored(root, ".claude/context/memory/learnings.md")
    assert text.startswith(f"autoresearch keeper: {planted} made git stop ignoring"), text


@pytest.mark.parametrize("command", list(DESTRUCTIONS))
def test_every_destruction_is_put_back_exactly(tmp_path, command):
    root = night(tmp_path)
    before = kept_bytes(root)
    assert hook(root) == ("", "")  # the first check journals everything and says nothing
    bash(root, command.format(tmp=tmp_path))
    assert kept_bytes(root) != before, "the command destroyed nothing: the test proves nothing"
    text, _ = hook(root)
    assert kept_bytes(root) == before
    for name in DESTRUCTIONS[command]:
        assert name in text, text
    assert text.startswith("autoresearch keeper: ") and "from its journal outside the project" in text
    if "results.tsv" in DESTRUCTIONS[command]:
        assert LEDGER_WAY in text
    assert hook(root) == ("", ""), "a second check finds nothing more to do"


def test_a_row_changed_in_the_middle_is_put_back_and_the_edit_kept_aside(tmp_path, keeper_vault):
    root = night(tmp_path)
    hook(root)
    bash(root, "sed -i 's/0.997900/0.900000/' results.tsv")
    text, _ = hook(root)
    assert "lost 1 of its 3 rows and had 1 row changed" in text, text
    assert (root / "results.tsv").read_text() == LEDGER
    displaced = list(keeper_vault.glob("*/displaced/*results.tsv"))
    assert len(displaced) == 1 and "0.900000" in displaced[0].read_text()


def test_git_moves_that_leave_ignored_files_alone_say_nothing(tmp_path):
    root = night(tmp_path)
    before = kept_bytes(root)
    hook(root)
    for command in ("git reset --hard", "git stash -u", "git checkout -q -b other && git checkout -q main"):
        bash(root, command)
        assert hook(root) == ("", ""), command
        assert kept_bytes(root) == before


def test_checking_out_a_branch_that_tracks_the_ledger_cannot_lose_it(tmp_path):
    root = night(tmp_path)
    before = kept_bytes(root)
    git(root, "checkout", "-q", "-b", "tracked")
    (root / "stale.tsv").write_text(ledger.HEADER + "\n")
    git(root, "add", "stale.tsv")
    git(root, "mv", "stale.tsv", "results.tsv", "-f")
    git(root, "commit", "-q", "-m", "a branch that tracks a header-only results.tsv")
    git(root, "checkout", "-q", "main")
    (root / "results.tsv").write_text(LEDGER)
    hook(root)
    bash(root, "git checkout -q -f tracked")  # git overwrites an ignored file with the tracked one
    text, _ = hook(root)
    assert "results.tsv" in text and (root / "results.tsv").read_text() == LEDGER
    bash(root, "git checkout -q -f main")  # and deletes it again on the way back
    hook(root)
    assert kept_bytes(root) == before


# --- what must keep working ---


def test_appended_rows_are_journaled_and_never_restored_away(tmp_path):
    root = night(tmp_path)
    hook(root)
    row = "d4e5f6a\t0.989000\t0.1\tdiscard\tlr 0.04"
    escaped = row.replace("\t", "\\t")
    bash(root, f'echo -e "{escaped}" >> results.tsv')
    assert hook(root) == ("", "")
    bash(root, "rm results.tsv")
    text, _ = hook(root)
    assert "all 4 rows" in text
    assert (root / "results.tsv").read_text() == LEDGER + row + "\n"


def test_rows_appended_after_a_delete_are_kept_after_the_journaled_ones(tmp_path):
    root = night(tmp_path)
    hook(root)
    new = [
        "e5f6a7b\t0.990000\t0.1\tdiscard\tafter the delete",
        "f6a7b8c\t0.991000\t0.1\tdiscard\tand another",
    ]
    # the delete and two appends (which recreate the file headerless) in one call
    bash(root, "rm results.tsv && " + " && ".join(f"printf '%s\\n' '{r}' >> results.tsv" for r in new))
    text, _ = hook(root)
    assert "2 of them appended after the damage" in text, text
    assert (root / "results.tsv").read_text() == LEDGER + "".join(r + "\n" for r in new)


def test_the_header_seed_is_allowed_and_journaled(tmp_path):
    root = night(tmp_path)
    (root / "results.tsv").unlink()
    hook(root)
    seed = 'echo -e "commit\\tval_bpb\\tmemory_gb\\tstatus\\tdescription" > results.tsv'
    bash(root, seed)
    assert hook(root) == ("", "")
    bash(root, seed)  # again, while it holds only the header
    assert hook(root) == ("", "")
    bash(root, "rm results.tsv")  # a header alone: nothing lost, nothing put back
    assert hook(root) == ("", "") and not (root / "results.tsv").exists()
    bash(root, seed + ' && echo -e "a1b2c3d\\t0.997900\\t0.1\\tkeep\\tbaseline" >> results.tsv')
    assert hook(root) == ("", "")
    bash(root, "gzip results.tsv")
    text, _ = hook(root)
    assert (root / "results.tsv").read_text() == ledger.HEADER + "\n" + ROWS[0] + "\n", text


def test_a_header_only_ledger_replaced_by_a_link_is_put_back(tmp_path):
    root = night(tmp_path)
    (root / "results.tsv").write_text(ledger.HEADER + "\n")
    hook(root)
    bash(root, "ln -sf /tmp/claude-elsewhere.tsv results.tsv")
    text, _ = hook(root)
    assert "results.tsv was replaced by a link" in text, text
    assert not (root / "results.tsv").is_symlink()
    assert (root / "results.tsv").read_text() == ledger.HEADER + "\n"


def recordable(root: Path) -> config.Config:
    """A finished, unrecorded run on HEAD in the state, as `experiment.py run` leaves it."""
    cfg = config.load(root)
    st = state.load(cfg)
    head = st["baseline_commit"]
    st["last_run"] = {"commit": head, "base_commit": head, "outcome": "ok", "val_bpb": 0.98765432,
                      "memory_gb": 0.25, "comparable": False, "recorded": False, "summary": {}}  # fmt: skip
    state.save(cfg, st)
    return cfg


def test_a_row_record_wrote_and_the_same_call_deleted_comes_back_from_the_sidecar(tmp_path):
    root = night(tmp_path)
    hook(root)
    cfg = recordable(root)
    result = runner.record(cfg, "discard", "under the test budget")  # the real record: row, sidecar, state
    written = (root / "results.tsv").read_text()
    assert written.startswith(LEDGER) and written.count("\n") == len(ROWS) + 2
    bash(root, "rm results.tsv")  # `record ...; rm results.tsv`: the keeper never saw the row
    text, _ = hook(root)
    assert "results.tsv was removed" in text and "1 of them appended after the damage" in text, text
    assert (root / "results.tsv").read_text() == written, result
    assert state.load(cfg)["last_run"]["recorded"] is True


def test_the_nights_first_record_deleted_in_the_same_call_comes_back(tmp_path):
    root = night(tmp_path)
    cfg = config.load(root)
    cfg.sidecar_path.unlink()  # before the first `record` of a night there is no sidecar
    hook(root)
    recordable(root)
    runner.record(cfg, "discard", "the first record")
    written = cfg.results_path.read_text()
    bash(root, "rm results.tsv")
    text, _ = hook(root)
    assert cfg.results_path.read_text() == written and "1 of them appended after the damage" in text, text


def test_every_row_record_writes_is_the_row_its_sidecar_record_stands_for(tmp_path):
    root = night(tmp_path)
    for status, outcome in (("discard", "ok"), ("crash", "crash"), ("discard", "mismatch")):
        cfg = recordable(root)
        st = state.load(cfg)
        st["last_run"]["outcome"] = outcome
        state.save(cfg, st)
        runner.record(cfg, status, f"{status} after {outcome}")
        row = (root / "results.tsv").read_text().splitlines()[-1]
        assert ledger.row_of_record(ledger.read_records(cfg.sidecar_path)[-1]) == row


def test_state_written_by_the_runner_is_journaled_but_its_setup_facts_are_fixed(tmp_path):
    root = night(tmp_path)
    cfg = config.load(root)
    hook(root)
    st = state.load(cfg)
    st["in_flight"] = {"pid": 1}
    state.save(cfg, st)
    assert hook(root) == ("", "")
    st["protected_hashes"] = {"prepare.py": "f" * 64}  # a forged hash would hide a tampered harness
    st["in_flight"] = None
    state.save(cfg, st)
    text, _ = hook(root)
    assert "setup facts changed (protected_hashes)" in text, text
    now = state.load(cfg)
    assert now["protected_hashes"] == {"prepare.py": "0" * 64} and now["in_flight"] is None


def test_memory_added_by_the_cli_after_a_delete_is_kept_with_the_old_entries(tmp_path):
    root = night(tmp_path)
    cfg = config.load(root)
    hook(root)
    before = (cfg.memory_path / "learnings.md").read_text()
    bash(root, "rm .claude/context/memory/learnings.md")
    store.add(cfg.memory_path, "learning", "Warmup longer than 5 percent hurts", "Measured twice.")
    text, _ = hook(root)
    after = (cfg.memory_path / "learnings.md").read_text()
    assert after.startswith(before) and "Warmup longer than 5 percent hurts" in after, text
    assert [e.title for e in store.load(cfg.memory_path).entries if e.kind == "learning"] == [
        "Halving the batch helps at 300 s",
        "Warmup longer than 5 percent hurts",
    ]
    store.add(cfg.memory_path, "learning", "A third one through the CLI", "Appended normally.")
    assert hook(root) == ("", "")


def test_saved_models_are_linked_back_when_still_needed(tmp_path, keeper_vault):
    root = night(tmp_path)
    cfg = config.load(root)
    baseline = state.load(cfg)["baseline_commit"]
    cfg.artifact_dir.mkdir(parents=True)
    (cfg.artifact_dir / f"{baseline}.pt2").write_bytes(b"model bytes" * 1000)
    (cfg.artifact_dir / f"{baseline}.pt2.json").write_text('{"ok": true}')
    (cfg.artifact_dir / f"{'9' * 40}.pt2").write_bytes(b"a discard's model")
    hook(root)
    (cfg.artifact_dir / f"{'9' * 40}.pt2").unlink()  # the runner prunes a discard's model: not put back
    hook(root)
    bash(root, "rm -rf .autoresearch")
    text, _ = hook(root)
    assert "1 saved model(s)" in text and baseline[:7] in text, text
    assert (cfg.artifact_dir / f"{baseline}.pt2").read_bytes() == b"model bytes" * 1000
    assert sorted(p.name for p in cfg.artifact_dir.iterdir()) == [f"{baseline}.pt2", f"{baseline}.pt2.json"]


# --- nights, journals, failures ---


def test_setup_of_a_new_night_starts_a_new_journal(tmp_path, keeper_vault):
    root = night(tmp_path)
    cfg = config.load(root)
    hook(root)
    archive = (
        cfg.state_path / "archive" / "nov25-20261126-080000"
    )  # what setup does (runner._archive_previous)
    archive.mkdir(parents=True)
    for path in (cfg.results_path, cfg.sidecar_path, cfg.state_file):
        os.replace(path, archive / path.name)
    ledger.create(cfg.results_path)
    time.sleep(0.01)
    state.save(cfg, state.new_state("nov26", "autoresearch/nov26", "1" * 40, {}, 2, 0.006))
    assert hook(root) == ("", "")
    assert cfg.results_path.read_text() == ledger.HEADER + "\n"
    old = list(keeper_vault.glob("*/nights/nov25-*/results.tsv"))
    assert len(old) == 1 and old[0].read_text() == LEDGER


def test_a_new_night_whose_old_ledger_vanished_puts_it_into_the_archive(tmp_path):
    root = night(tmp_path)
    cfg = config.load(root)
    hook(root)
    bash(root, "rm results.tsv .autoresearch/runs.jsonl")
    ledger.create(cfg.results_path)
    state.save(cfg, state.new_state("nov26", "autoresearch/nov26", "1" * 40, {}, 2, 0.006))
    text, _ = hook(root)
    assert "put its 3 rows there" in text, text
    (kept,) = (cfg.state_path / "archive").glob("nov25-kept-*/results.tsv")
    assert kept.read_text() == LEDGER
    assert cfg.results_path.read_text() == ledger.HEADER + "\n"


@pytest.mark.parametrize("damage", ["garbage", "folder"])
def test_a_corrupt_or_unreadable_journal_is_one_line_and_loses_nothing(tmp_path, keeper_vault, damage):
    root = night(tmp_path)
    hook(root)
    (journal,) = keeper_vault.glob("*/night/results.tsv")
    old = journal.read_bytes()
    journal.unlink()
    if damage == "garbage":
        journal.write_bytes(b"\x00\xffnot a ledger\n")
    else:
        journal.mkdir()
        (journal / "inside").write_bytes(old)
    row = "d4e5f6a\t0.989000\t0.1\tdiscard\tlr 0.04\n"
    with (root / "results.tsv").open("a") as fh:  # the next honest append makes the keeper look
        fh.write(row)
    before = kept_bytes(root)
    text, _ = hook(root)
    assert kept_bytes(root) == before, "a bad journal must never overwrite the live file"
    assert text.count("autoresearch keeper:") == 1 and "\n" not in text, text
    assert "its journal of results.tsv could not be used" in text
    assert "nothing was restored or deleted" in text
    (aside,) = keeper_vault.glob("*/displaced/*-journal-results.tsv")
    if damage == "garbage":
        assert aside.read_bytes() == b"\x00\xffnot a ledger\n"
    else:
        assert (aside / "inside").read_bytes() == old
    assert journal.read_bytes() == (LEDGER + row).encode(), "restarted from the live file"
    bash(root, "rm results.tsv")
    hook(root)
    assert (root / "results.tsv").read_text() == LEDGER + row


def test_a_full_check_finds_a_damaged_journal_without_any_change(tmp_path, keeper_vault):
    root = night(tmp_path)
    hook(root)
    (journal,) = keeper_vault.glob("*/night/state.json")
    journal.write_text("not json")
    before = kept_bytes(root)
    report = keeper.check(root, full=True)  # what Stop and SessionStart run
    assert kept_bytes(root) == before and len(report.errors) == 1 and not report.restored
    assert "its journal of .autoresearch/state.json could not be used" in report.text()


def test_the_hook_never_tracebacks_and_never_blocks(tmp_path):
    root = night(tmp_path)
    for raw in (b"", b"not json", b"[1, 2]", b'{"hook_event_name": 3}'):
        proc = subprocess.run(
            [sys.executable, "-I", "-S", str(HOOK)],
            input=raw,
            capture_output=True,
            timeout=60,
            env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
        )
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_text("x")
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(root), keeper.VAULT_ENV: str(blocker)}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK)], input=b"{}", capture_output=True, timeout=60, env=env
    )
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    context = json.loads(proc.stdout)["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("autoresearch keeper: check failed") and "\n" not in context


def test_parallel_hooks_restore_once(tmp_path):
    root = night(tmp_path)
    before = kept_bytes(root)
    hook(root)
    bash(root, "rm -rf results.tsv .autoresearch")
    texts = []
    threads = [threading.Thread(target=lambda: texts.append(hook(root)[0])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kept_bytes(root) == before
    assert sum("results.tsv was removed" in t for t in texts) == 1, texts


def test_the_fast_path_reads_nothing_until_a_stat_changes(tmp_path):
    root = night(tmp_path)
    assert not keeper.unchanged(root)
    hook(root)
    assert keeper.unchanged(root)
    bash(root, "touch -r results.tsv results.tsv")  # same mtime, but ctime moves
    assert not keeper.unchanged(root)
    hook(root)
    assert keeper.unchanged(root)


def test_a_humans_hand_edit_is_accepted_outside_claude(tmp_path):
    root = night(tmp_path)
    hook(root)
    fixed = LEDGER.replace("wider mlp (oom)", "wider mlp (out of memory)")
    (root / "results.tsv").write_text(fixed)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK), "--accept"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
    )
    assert proc.returncode == 0 and "results.tsv" in proc.stdout, proc.stdout + proc.stderr
    assert hook(root) == ("", "")
    assert (root / "results.tsv").read_text() == fixed


def test_stop_and_session_start_check_too(tmp_path):
    root = night(tmp_path)
    before = kept_bytes(root)
    hook(root)
    bash(root, "rm -rf results.tsv .autoresearch")
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(root)}
    stop = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / ".claude" / "hooks" / "stop.py")],
        input=json.dumps({"hook_event_name": "Stop", "stop_hook_active": False, "cwd": str(root)}).encode(),
        capture_output=True,
        timeout=60,
        env=env,
    )
    reply = json.loads(stop.stdout)
    assert "results.tsv was removed" in json.dumps(reply), reply
    assert kept_bytes(root) == before
    bash(root, "gzip results.tsv")
    start = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / ".claude" / "hooks" / "session_start.py")],
        input=json.dumps({"hook_event_name": "SessionStart", "source": "resume", "cwd": str(root)}).encode(),
        capture_output=True,
        timeout=60,
        env=env,
    )
    context = json.loads(start.stdout)["hookSpecificOutput"]["additionalContext"]
    assert context.startswith("autoresearch keeper: results.tsv was removed"), context[:300]
    assert kept_bytes(root) == before


def test_the_vault_lives_outside_the_project_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv(keeper.VAULT_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "proj"
    vault = Path(keeper.vault_path(str(root)))
    assert vault.parent == tmp_path / "home" / ".local" / "state" / "autoresearch"
    assert vault.name.startswith("proj-") and root not in vault.parents
    settings = json.loads((REPO / ".claude" / "settings.json").read_text())
    assert f"Edit({keeper.VAULT_DIR}/**)" in settings["permissions"]["deny"]


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10"])
def test_under_an_old_python3_the_keeper_steps_aside(tmp_path, version):
    from test_guard_interpreter import old_python

    root = night(tmp_path)
    proc = subprocess.run(
        [old_python(version), "-I", "-S", str(HOOK)],
        input=b"{}",
        capture_output=True,
        timeout=60,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
    )
    assert proc.returncode == 0 and proc.stdout == b"", proc.stdout
    assert b"need Python >= 3.11" in proc.stderr and b"Traceback" not in proc.stderr


def test_between_sessions_the_memory_is_the_humans_and_the_ledger_stays_append_only(tmp_path):
    root = night(tmp_path)
    hook(root)
    cfg = config.load(root)
    learnings = cfg.memory_path / "learnings.md"
    curated = learnings.read_text().replace(
        "More steps beat bigger batches.", "More steps beat bigger batches (checked)."
    )
    learnings.write_text(curated)  # the researcher, in the morning, in an editor
    bash(root, "rm results.tsv")  # damage no hook saw (the client crashed mid-call)
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(root)}
    start = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / ".claude" / "hooks" / "session_start.py")],
        input=json.dumps({"hook_event_name": "SessionStart", "source": "startup", "cwd": str(root)}).encode(),
        capture_output=True,
        timeout=60,
        env=env,
    )
    context = json.loads(start.stdout)["hookSpecificOutput"]["additionalContext"]
    assert learnings.read_text() == curated  # journaled as the human left it
    assert "results.tsv was removed" in context and (root / "results.tsv").read_text() == LEDGER
    assert "learnings.md" not in context.split("\n\n", 1)[0]
    # and later in that session the curated text is what the keeper defends
    bash(root, "rm .claude/context/memory/learnings.md")
    hook(root)
    assert learnings.read_text() == curated


def _index(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached"], cwd=root, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


STAGINGS = [
    "git add -f results.tsv",
    "git add -f .autoresearch/state.json run.log",
    "git -c alias.s='add -f' s .claude/context/memory/learnings.md",
    "git update-index --add --cacheinfo 100644,$(git hash-object -w results.tsv),results.tsv",
    "printf 'results.tsv\\0' | git add -f --pathspec-from-file=- --pathspec-file-nul",
]


@pytest.mark.parametrize("command", STAGINGS)
def test_staged_night_data_is_taken_out_of_the_index_again(tmp_path, command):
    root = night(tmp_path)
    hook(root)
    before = kept_bytes(root)
    tracked = _index(root)
    bash(root, command)
    assert _index(root) != tracked, "the command did not stage anything"
    context, _ = hook(root)
    assert _index(root) == tracked  # the staging is undone; nothing else in the index moved
    assert kept_bytes(root) == before  # and the files stay on disk, untouched
    assert "out of the git index again" in context and "git add train.py" in context


def test_a_commit_that_already_holds_the_ledger_is_left_to_the_runner(tmp_path):
    root = night(tmp_path)
    hook(root)
    bash(root, "git add -f results.tsv && git -c user.email=a@b -c user.name=a commit -q -m sneak")
    context, _ = hook(root)
    assert "results.tsv" in _index(root)  # history is never rewritten; `run` refuses a tracked ledger
    assert "out of the git index" not in context
