"""The seed protocol's literal commands pass the real hook, in order, and do what they say.

The header line (`echo -e "commit\\tval_bpb..." > results.tsv`) is allowed while results.tsv is absent
or holds only the header, and denied once it holds a row. Each allowed command is then run with bash
in a real git repo, so the test judges the effect (the ledger's bytes), not only the verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from autoresearch import config, ledger, policy
from guard_helpers import git, install_guard, make_project

SEED_HEADER = 'echo -e "commit\\tval_bpb\\tmemory_gb\\tstatus\\tdescription" > results.tsv'
ROW = "a1b2c3d\t0.997900\t44.0\tkeep\tbaseline"
SEED_ROW = 'echo -e "a1b2c3d\\t0.997900\\t44.0\\tkeep\\tbaseline" >> results.tsv'


def hook(root: Path, tool: str, tool_input: dict) -> dict | None:
    """The project's real hook's answer: None for a silent allow, else its hookSpecificOutput."""
    payload = {"hook_event_name": "PreToolUse", "cwd": str(root), "tool_name": tool, "tool_input": tool_input}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(root / ".claude" / "hooks" / "pre_tool_use.py")],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
        check=True,
    )
    return json.loads(proc.stdout)["hookSpecificOutput"] if proc.stdout else None


def guarded_project(tmp_path: Path) -> Path:
    """A project like this repo with the real hooks and library committed (so `git reset` keeps them)."""
    root = make_project(tmp_path / "proj", ignore_data=True)
    install_guard(root)
    git(root, "add", ".claude")
    git(root, "commit", "-q", "-m", "the real guard")
    return root


def allowed(answer: dict | None) -> bool:
    return answer is None or answer["permissionDecision"] == "allow"


def bash(root: Path, command: str) -> None:
    subprocess.run(["bash", "-c", command], cwd=root, check=True, capture_output=True, timeout=60)


def test_the_seed_protocol_runs_in_order(tmp_path):
    root = guarded_project(tmp_path)
    (root / "results.tsv").unlink()  # a fresh night: the agent creates the ledger itself
    header = ledger.HEADER + "\n"
    steps = [
        ("git checkout -b autoresearch/mar5", True),
        (SEED_HEADER, True),
        (SEED_HEADER, True),  # again: still only the header, nothing to lose
        ("uv run train.py > run.log 2>&1", None),  # judged only: training needs the real harness
        ('grep "^val_bpb:\\|^peak_vram_mb:" run.log', True),
        ("tail -n 50 run.log", True),
        (SEED_ROW, True),
        ("sed -i 's/DEPTH = 8/DEPTH = 10/' train.py && git add train.py", True),
        ("git commit -m 'Increase depth to 10'", True),
        ("git reset --hard HEAD~1", True),
    ]
    for command, run in steps:
        answer = hook(root, "Bash", {"command": command})
        assert allowed(answer), (command, answer)
        if run:
            bash(root, command)
    assert (root / "results.tsv").read_text() == header + ROW + "\n"  # the row survived the reset
    answer = hook(root, "Bash", {"command": SEED_HEADER})  # now it would wipe the row
    assert not allowed(answer) and answer["permissionDecisionReason"].startswith("keep-untracked-data:")
    git_branch = subprocess.run(["git", "branch", "--show-current"], cwd=root, capture_output=True, text=True)
    assert git_branch.stdout.strip() == "autoresearch/mar5"


@pytest.mark.parametrize(
    ("content", "command", "ok"),
    [
        (None, SEED_HEADER, True),
        ("", SEED_HEADER, True),
        (ledger.HEADER, SEED_HEADER, True),
        (ledger.HEADER + "\n", f"printf '{ledger.HEADER}\\n' > results.tsv", True),  # real tabs
        (ledger.HEADER + "\n" + ROW + "\n", SEED_HEADER, False),
        (ROW + "\n", SEED_HEADER, False),  # a row without a header is still a row
        (ledger.HEADER + "\n", "echo 'commit\tval_bpb' > results.tsv", False),  # not the header
        (ledger.HEADER + "\n", ": > results.tsv", False),
        (ledger.HEADER + "\n", "rm results.tsv", False),
        (ledger.HEADER + "\n", f"{SEED_ROW}; {SEED_HEADER}", False),  # the row it appends would be wiped
        (ledger.HEADER + "\n", f"{SEED_HEADER} && cp results.tsv /tmp/x", True),
    ],
)
def test_the_header_line_is_allowed_only_where_it_loses_nothing(tmp_path, content, command, ok):
    root = make_project(tmp_path / "proj", ignore_data=True)
    if content is None:
        (root / "results.tsv").unlink()
    else:
        (root / "results.tsv").write_text(content)
    decision = policy.evaluate({"tool_name": "Bash", "tool_input": {"command": command}, "cwd": str(root)},
                               config.load(root))  # fmt: skip
    assert decision.allowed is ok, decision
    if not ok:
        assert decision.rule == "keep-untracked-data"


def test_the_write_tool_may_create_the_header_but_not_replace_rows(tmp_path):
    root = guarded_project(tmp_path)
    write = {"file_path": str(root / "results.tsv"), "content": ledger.HEADER + "\n"}
    (root / "results.tsv").unlink()
    assert hook(root, "Write", write) is None
    (root / "results.tsv").write_text(ledger.HEADER + "\n" + ROW + "\n")
    answer = hook(root, "Write", write)
    assert answer["permissionDecision"] == "deny"
