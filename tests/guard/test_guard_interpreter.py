"""The hooks under an older `python3` fail closed (PreToolUse) or step aside (Stop, SessionStart, PreCompact).

Each old interpreter is put first on PATH as `python3` and the hooks are started through /bin/sh exactly
as .claude/settings.json spells them, so the test sees what Claude Code would get. Judged by the hooks'
real output: no forbidden call may come back allowed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from autoresearch import interpreter
from guard_helpers import make_project

REPO = Path(__file__).resolve().parents[2]
SETTINGS = json.loads((REPO / ".claude" / "settings.json").read_text())
OLD_VERSIONS = ["3.8", "3.9", "3.10"]
FORBIDDEN = [
    ("Bash", {"command": "cat run.log"}),
    ("Bash", {"command": "cat *.log"}),
    ("Bash", {"command": "pip install einops"}),
    ("Bash", {"command": "echo x >> prepare.py"}),
    ("Write", {"file_path": "{root}/.claude/settings.json", "content": "{}"}),
    ("Edit", {"file_path": "{root}/prepare.py", "old_string": "300", "new_string": "5"}),
]


def find_python(version: str) -> str | None:
    """A real (not shimmed) interpreter of this version: pyenv's, else one uv manages."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for exe in sorted(glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python" + version))):
        return exe
    proc = subprocess.run(
        ["uv", "python", "find", "--python-preference", "only-managed", version],
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        check=False,
    )
    found = proc.stdout.strip() if proc.returncode == 0 else ""
    return found or None


def old_python(version: str) -> str:
    exe = find_python(version)
    if exe is None:
        pytest.skip(f"no Python {version} here; install one with `uv python install {version}`")
    return exe


def path_with_python3(tmp_path: Path, exe: str) -> str:
    """PATH with `exe` as the first `python3`, the way a user's PATH would pick it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "python3"
    if not link.exists():
        link.symlink_to(exe)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def run_hook(event: str, stdin: dict, path: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """This repo's hook for `event`, run as settings.json spells it; the payload's cwd names the project."""
    (group,) = SETTINGS["hooks"][event]
    (handler,) = group["hooks"]
    return subprocess.run(
        ["/bin/sh", "-c", handler["command"]],
        input=json.dumps(stdin).encode(),
        capture_output=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PATH": path, "CLAUDE_PROJECT_DIR": str(REPO)},
    )


def test_the_minimum_version_is_the_projects_requires_python():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = re.fullmatch(r">=\s*(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert wanted, "requires-python must stay a plain lower bound"
    assert interpreter.MIN_VERSION == (int(wanted[1]), int(wanted[2]))
    assert interpreter.too_old() == ""  # the test interpreter itself is new enough
    message = interpreter.too_old((3, 9, 6), "/usr/bin/python3")
    assert message.startswith("python3 is 3.9.6 (/usr/bin/python3)") and "first on the PATH" in message
    assert "\n" not in message


def test_the_version_check_parses_on_old_interpreters():
    """The entry points and interpreter.py must compile where the rest of the library does not."""
    exe = find_python("3.8") or find_python("3.9")
    if exe is None:
        pytest.skip("no Python 3.8 or 3.9 here; install one with `uv python install 3.8`")
    files = [
        *sorted((REPO / ".claude" / "hooks").glob("*.py")),
        REPO / ".claude/lib/autoresearch/interpreter.py",
    ]
    code = "import sys\nfor f in sys.argv[1:]: compile(open(f).read(), f, 'exec')"
    subprocess.run([exe, "-c", code, *map(str, files)], check=True, capture_output=True)


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_pre_tool_use_denies_every_call_under_an_old_python3(version, tmp_path):
    path = path_with_python3(tmp_path, old_python(version))
    calls = [*FORBIDDEN, ("Bash", {"command": "tail -n 50 run.log"})]  # fail closed: even an honest call
    for tool, tool_input in calls:
        tool_input = {k: v.replace("{root}", str(REPO)) for k, v in tool_input.items()}
        payload = {
            "hook_event_name": "PreToolUse",
            "cwd": str(REPO),
            "tool_name": tool,
            "tool_input": tool_input,
        }
        proc = run_hook("PreToolUse", payload, path)
        assert proc.returncode == 0, proc.stderr
        spec = json.loads(proc.stdout)["hookSpecificOutput"]
        assert spec["permissionDecision"] == "deny", (tool, tool_input)
        reason = spec["permissionDecisionReason"]
        assert reason.startswith(f"python-too-old: python3 is {version}.") and "first on the PATH" in reason


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_the_loop_hooks_step_aside_under_an_old_python3(version, tmp_path):
    """Stop must not block (every tool call is denied: blocking would spin), SessionStart says why,
    PreCompact lets compaction go on without writing anything."""
    path = path_with_python3(tmp_path, old_python(version))
    project = make_project(tmp_path / "proj", ignore_data=True)
    before = sorted(p.relative_to(project) for p in project.rglob("*") if ".git" not in p.parts)
    stop = run_hook("Stop", {"stop_hook_active": False, "cwd": str(project)}, path, project)
    assert stop.returncode == 0 and stop.stdout == b""
    assert f"python3 is {version}.".encode() in stop.stderr
    start = run_hook("SessionStart", {"source": "startup", "cwd": str(project)}, path, project)
    assert start.returncode == 0
    context = json.loads(start.stdout)["hookSpecificOutput"]["additionalContext"]
    assert f"python3 is {version}." in context and "denies every tool call" in context
    compact = run_hook("PreCompact", {"trigger": "manual", "cwd": str(project)}, path, project)
    assert compact.returncode == 0 and compact.stdout == b""
    assert sorted(p.relative_to(project) for p in project.rglob("*") if ".git" not in p.parts) == before


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_self_test_fails_under_an_old_python3(version):
    proc = subprocess.run(
        [old_python(version), "-I", "-S", str(REPO / ".claude/hooks/pre_tool_use.py"), "--self-test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"FAIL python3 is {version}." in proc.stdout


def test_self_test_checks_the_python3_claude_code_will_run(tmp_path):
    """Run from a good interpreter, the self-test still fails when PATH's python3 is too old."""
    path = path_with_python3(tmp_path, old_python("3.9"))
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO / ".claude/hooks/pre_tool_use.py"), "--self-test"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert proc.returncode == 1
    assert "FAIL hook interpreter: python3 is 3.9." in proc.stdout
