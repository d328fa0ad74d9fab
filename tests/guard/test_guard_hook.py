"""The real hook process: exact Claude Code payloads on stdin, the JSON it answers, malformed input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from guard_helpers import install_guard, make_project

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / ".claude" / "hooks" / "pre_tool_use.py"
SETTINGS = REPO / ".claude" / "settings.json"


def run_hook(stdin: bytes, *args: str, hook: Path = HOOK, timeout: float = 30):
    return subprocess.run(
        [sys.executable, "-I", "-S", str(hook), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(REPO)},
    )


def payload(tool: str, tool_input: dict) -> bytes:
    return json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": "/tmp/t.jsonl",
            "cwd": str(REPO),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_01ABC",
        }
    ).encode()


DENIED = [
    ("Bash", {"command": "cat run.log", "description": "show log"}, "log-flood"),
    ("Bash", {"command": "tail -f run.log"}, "log-flood"),
    ("Bash", {"command": "sed -i 's/300/5/' prepare.py"}, "protected-files"),
    ("Bash", {"command": "python3 -c \"open('prepare.py','w')\""}, "protected-files"),
    ("Bash", {"command": "git add -f results.tsv"}, "results-untracked"),
    ("Bash", {"command": "pip install einops"}, "no-installs"),
    ("Bash", {"command": "uv run train.py 2>&1 | tee run.log"}, "redirect-training"),
    ("Bash", {"command": "rm -rf .claude/hooks"}, "guard-integrity"),
    ("Bash", {"command": "git clean -fdx"}, "keep-untracked-data"),
    ("Monitor", {"command": "tail -f run.log", "description": "watch", "timeout_ms": 1000}, "log-flood"),
    ("Read", {"file_path": str(REPO / "run.log")}, "log-flood"),
    (
        "Edit",
        {"file_path": str(REPO / "prepare.py"), "old_string": "a", "new_string": "b"},
        "protected-files",
    ),
    ("Write", {"file_path": str(REPO / ".claude" / "settings.json"), "content": "{}"}, "guard-integrity"),
    ("NotebookEdit", {"notebook_path": str(REPO / "prepare.py"), "new_source": "x"}, "protected-files"),
    ("MultiEdit", {"file_path": str(REPO / "uv.lock"), "edits": []}, "no-installs"),
    ("Grep", {"pattern": ".*", "path": str(REPO / "run.log"), "output_mode": "content"}, "log-flood"),
]
ALLOWED = [
    ("Bash", {"command": "tail -n 50 run.log"}),
    ("Bash", {"command": 'grep "^val_bpb:\\|^peak_vram_mb:" run.log'}),
    ("Bash", {"command": "git log --oneline -5"}),
    ("Bash", {"command": 'echo -e "a\\tb" >> results.tsv'}),
    ("Bash", {"command": "git reset --hard HEAD~1"}),
    ("Read", {"file_path": str(REPO / "prepare.py")}),
    ("Read", {"file_path": str(REPO / "run.log"), "limit": 50}),
    ("Edit", {"file_path": str(REPO / "train.py"), "old_string": "a", "new_string": "b"}),
    ("Glob", {"pattern": "*.py"}),
]


@pytest.mark.parametrize(
    ("tool", "tool_input", "rule"), DENIED, ids=[f"{t}-{r}-{i}" for i, (t, _, r) in enumerate(DENIED)]
)
def test_hook_denies_with_json(tool, tool_input, rule):
    proc = run_hook(payload(tool, tool_input))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = json.loads(proc.stdout)
    spec = out["hookSpecificOutput"]
    assert spec["hookEventName"] == "PreToolUse"
    assert spec["permissionDecision"] == "deny"
    assert spec["permissionDecisionReason"].startswith(rule + ":")


@pytest.mark.parametrize(
    ("tool", "tool_input"), ALLOWED, ids=[f"{t}-{i}" for i, (t, _) in enumerate(ALLOWED)]
)
def test_hook_allows_silently(tool, tool_input):
    proc = run_hook(payload(tool, tool_input))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    assert proc.stderr == b""


def test_hook_adds_the_bash_timeout_to_a_training_run_and_keeps_every_other_field():
    tool_input = {
        "command": "uv run train.py > run.log 2>&1",
        "description": "train",
        "run_in_background": False,
    }
    proc = run_hook(payload("Bash", tool_input))
    assert proc.returncode == 0
    spec = json.loads(proc.stdout)["hookSpecificOutput"]
    assert spec["permissionDecision"] == "allow"
    assert spec["updatedInput"] == {**tool_input, "timeout": 600000}


def test_hook_leaves_a_runner_call_that_already_has_the_timeout_alone():
    tool_input = {"command": "uv run scripts/experiment.py run", "timeout": 600000}
    proc = run_hook(payload("Bash", tool_input))
    assert proc.returncode == 0 and proc.stdout == b""


MALFORMED = {
    "empty": b"",
    "not json": b"hello, world",
    "binary": bytes(range(256)) * 4,
    "invalid utf-8": b'{"tool_name": "Bash", "tool_input": {"command": "cat \xff run.log"}}',
    "json array": b"[1, 2, 3]",
    "json string": b'"cat run.log"',
    "no tool_name": b'{"tool_input": {"command": "cat run.log"}}',
    "tool_input not an object": b'{"tool_name": "Bash", "tool_input": "cat run.log"}',
    "command not a string": b'{"tool_name": "Bash", "tool_input": {"command": ["cat", "run.log"]}}',
    "unknown tool": b'{"tool_name": "Frobnicate", "tool_input": {"command": "cat run.log"}}',
    "deeply nested": b"[" * 100000 + b"]" * 100000,
    "truncated": b'{"tool_name": "Bash", "tool_input": {"command": "cat run',
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_stdin_is_allowed_with_at_most_a_note(name):
    proc = run_hook(MALFORMED[name])
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert b"Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) <= 1


def test_a_megabyte_command_naming_the_log_is_denied_and_one_without_is_allowed():
    filler = "echo " + "x" * (1024 * 1024)
    proc = run_hook(payload("Bash", {"command": filler + "; cat run.log"}))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    proc = run_hook(payload("Bash", {"command": filler}))
    assert proc.returncode == 0 and proc.stdout == b"" and b"Traceback" not in proc.stderr


def test_an_unparseable_write_is_left_to_the_wall_and_denied_without_it(tmp_path):
    # The shipped settings wall prepare.py off for every Bash command: the guide need not guess.
    assert run_hook(payload("Bash", {"command": "echo 'oops > prepare.py"})).stdout == b""
    # A project whose settings lack that sandbox gets the guide's denial instead.
    root = make_project(tmp_path / "proj", ignore_data=True)
    hook = install_guard(root)
    unwalled = json.loads(payload("Bash", {"command": "echo 'oops > prepare.py"}))
    unwalled["cwd"] = str(root)
    proc = run_hook(json.dumps(unwalled).encode(), hook=hook)
    spec = json.loads(proc.stdout)["hookSpecificOutput"]
    assert spec["permissionDecision"] == "deny"
    assert spec["permissionDecisionReason"].startswith("protected-files:")
    unwalled["tool_input"]["command"] = "echo 'oops > notes.txt"
    assert run_hook(json.dumps(unwalled).encode(), hook=hook).stdout == b""
    # Reads are not walled: an unparseable command that names the log is still the guide's to stop.
    proc = run_hook(payload("Bash", {"command": "cat 'run.log"}))
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecisionReason"].startswith("log-flood:")


def test_self_test_passes_on_this_install():
    proc = run_hook(b"", "--self-test")
    assert proc.returncode == 0, proc.stdout
    assert b"self-test: ok" in proc.stdout


def test_self_test_fails_on_a_broken_install_without_exiting_2(tmp_path):
    hooks = tmp_path / ".claude" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "pre_tool_use.py").write_bytes(HOOK.read_bytes())
    (tmp_path / ".claude" / "settings.json").write_bytes(SETTINGS.read_bytes())
    proc = run_hook(b"", "--self-test", hook=hooks / "pre_tool_use.py")
    assert proc.returncode == 1
    assert b"FAIL" in proc.stdout
    # Without its library the hook still answers a tool call with exit 0 (allow plus a note).
    proc = run_hook(payload("Bash", {"command": "cat run.log"}), hook=hooks / "pre_tool_use.py")
    assert proc.returncode == 0 and proc.stdout == b""
    assert b"Traceback" not in proc.stderr


def test_unknown_arguments_never_exit_2():
    proc = run_hook(b"", "--bogus-flag")
    assert proc.returncode == 0


def test_hook_runs_through_bin_sh_exactly_as_settings_spells_it():
    settings = json.loads(SETTINGS.read_text())
    command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        input=payload("Bash", {"command": "cat run.log"}),
        capture_output=True,
        timeout=30,
        cwd="/",
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_a_broken_pyproject_is_judged_on_the_default_config_with_a_note(tmp_path):
    import shutil

    shutil.copytree(
        REPO / ".claude" / "lib" / "autoresearch",
        tmp_path / ".claude" / "lib" / "autoresearch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    hooks = tmp_path / ".claude" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "pre_tool_use.py").write_bytes(HOOK.read_bytes())
    (tmp_path / "pyproject.toml").write_text("[tool.autoresearch\nlog_file = 'x'\n")
    stdin = json.dumps({"tool_name": "Bash", "tool_input": {"command": "cat run.log"}, "cwd": str(tmp_path)})
    proc = run_hook(stdin.encode(), hook=hooks / "pre_tool_use.py")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecisionReason"].startswith("log-flood:")
    assert b"not valid TOML" in proc.stderr and b"Traceback" not in proc.stderr
