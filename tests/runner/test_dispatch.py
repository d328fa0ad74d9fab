"""A Ray night inside Claude Code: a job is held inside the sandbox, and the PostToolUse hook starts its
supervisor outside it (autoresearch.dispatch). Real CLI, real hook script, real supervisor processes; the
cluster address is a closed port, so each started job ends at once with the one-line "cannot reach" error
(tests/ray and tests/e2e run the same path against a real local head)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import psutil
import pytest
from autoresearch import config, jobs
from runner_helpers import REPO_ROOT, clean_env, make_night
from test_workers import _records

HOOK = REPO_ROOT / ".claude" / "hooks" / "post_tool_use.py"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def _ray_night(tmp_path, backend="ray"):
    night = make_night(tmp_path)
    address = f"http://127.0.0.1:{_closed_port()}"
    text = (night.root / "pyproject.toml").read_text()
    night.write(
        "pyproject.toml", text + f'\n[tool.autoresearch.jobs]\nbackend = "{backend}"\naddress = "{address}"\n'
    )
    night.commit("the Ray backend")
    assert night.cli("setup").returncode == 0
    return night, address


def _agent_env(night, **extra):
    """A Bash call of Claude Code (CLAUDECODE=1), with the project environment the hooks will run."""
    fields = {"CLAUDECODE": "1", "CLAUDE_PROJECT_DIR": str(night.root), "UV_PROJECT_ENVIRONMENT": sys.prefix}
    return clean_env(**{**fields, **extra})


def _post_tool_use(night, env) -> subprocess.CompletedProcess:
    """The hook exactly as .claude/settings.json runs it after a Bash call (`python3 -I -S`)."""
    payload = {"hook_event_name": "PostToolUse", "tool_name": "Bash", "cwd": str(night.root)}
    return subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK)],
        input=json.dumps(payload), capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def _finished(night, job_id: str, limit: float = 60) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        record = _records(night)[job_id]
        pid = record.get("supervisor_pid")
        if record["state"] == "done" and not (pid and psutil.pid_exists(pid)):
            return record  # and its supervisor has exited: the record is its last act
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never finished: {_records(night)[job_id]}")


def _submitted_id(out: str) -> str:
    return jobs.ID_PATTERN.search(out).group(0)


def test_inside_claude_code_a_ray_job_is_held_and_the_hook_starts_it_outside(tmp_path):
    night, address = _ray_night(tmp_path)
    env = _agent_env(night)
    submitted = night.cli("submit", env=env)  # no --hold: inside Claude Code a Ray job is held anyway
    assert submitted.returncode == 0, submitted.stderr
    assert "held (a Ray job starts when this Bash call ends, outside the sandbox" in submitted.stdout
    assert "lives only as long as this Bash call" not in submitted.stderr, "no warning: it does not die"
    job_id = _submitted_id(submitted.stdout)

    started = time.monotonic()
    waited = night.cli("wait", env=env)  # the sandboxed `wait` never starts it: it has no network
    assert time.monotonic() - started < 30 and waited.returncode == 0, waited.stdout + waited.stderr
    assert f"job {job_id}: held: a Ray job starts when this Bash call ends" in waited.stdout
    assert _records(night)[job_id]["state"] == "held"

    hook = _post_tool_use(night, env)
    assert hook.returncode == 0 and hook.stdout == "", hook.stdout + hook.stderr
    record = _finished(night, job_id)
    assert record["supervisor_pid"], "a supervisor picked the job up"
    assert f"cannot reach the Ray cluster at {address}" in record["error"], record
    assert not (night.root / ".autoresearch" / "jobs" / f"{job_id}.held").exists()
    waited = night.cli("wait", job_id, env=env)
    assert f"cannot reach the Ray cluster at {address}" in waited.stdout and waited.returncode == 1
    assert night.cli("record", "discard", "never ran", env=env).returncode == 1, "nothing to record"
    assert (night.root / "results.tsv").read_text().count("\n") == 1, "the header only"


def test_a_forged_record_is_never_acted_on_outside_the_sandbox(tmp_path):
    """The agent can write job records. The supervisor the hook starts derives the log and the tree from the
    id, so a forged `worktree` is not removed and a forged `log` not written; a forged commit or id starts
    nothing."""
    night, _ = _ray_night(tmp_path)
    env = _agent_env(night)
    job_id = _submitted_id(night.cli("submit", "--hold", env=env).stdout)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious\n")
    harness = hashlib.sha256((night.root / "prepare.py").read_bytes()).hexdigest()
    path = night.root / ".autoresearch" / "jobs" / f"{job_id}.json"
    record = json.loads(path.read_text())
    record.update(worktree="../../victim", log="prepare.py")
    path.write_text(json.dumps(record))
    forged = dict(record, id="20261201T000000-abcdef0-0000", commit="--output=../../escaped.tar")
    (path.parent / f"{forged['id']}.json").write_text(json.dumps(forged))
    (path.parent / f"{forged['id']}.held").touch()
    (path.parent / "not-an-id.held").touch()
    (path.parent / "not-an-id.json").write_text(json.dumps(dict(record, id="not-an-id")))

    hook = _post_tool_use(night, env)
    assert hook.returncode == 0, hook.stderr
    assert "names no full commit" in hook.stderr and "has a malformed record" in hook.stderr, hook.stderr
    _finished(night, job_id)
    assert (victim / "keep.txt").read_text() == "precious\n", "the forged worktree was left alone"
    assert hashlib.sha256((night.root / "prepare.py").read_bytes()).hexdigest() == harness
    assert (night.root / ".autoresearch" / "jobs" / f"{job_id}.log").is_file(), "the log the id names"
    assert not (tmp_path / "escaped.tar").exists() and not (night.root / "escaped.tar").exists()
    assert _records(night)[forged["id"]]["state"] == "done", "a job that cannot start ends, with why"
    assert not list(path.parent.glob("*.held")), "every marker was looked at once"


def test_a_held_job_starts_once_whoever_asks(tmp_path):
    night, _ = _ray_night(tmp_path)
    job_id = _submitted_id(night.cli("submit", "--hold", env=_agent_env(night)).stdout)
    cfg = config.load(night.root)
    assert jobs._claim(cfg, job_id).state == "queued"
    assert jobs._claim(cfg, job_id) is None, "a second caller (a `wait`, the hooks) starts nothing"


def test_without_the_project_environment_the_held_job_ends_with_the_fix(tmp_path):
    night, _ = _ray_night(tmp_path)
    env = _agent_env(night, UV_PROJECT_ENVIRONMENT=str(tmp_path / "no-venv"))
    job_id = _submitted_id(night.cli("submit", "--hold", env=env).stdout)
    hook = _post_tool_use(night, env)
    assert hook.returncode == 0 and "uv sync --extra ray" in hook.stderr, hook.stderr
    record = _records(night)[job_id]
    assert record["state"] == "done" and "no project environment at" in record["error"], record


@pytest.mark.parametrize("backend", ["local"])
def test_the_hook_leaves_a_local_nights_held_jobs_to_wait(tmp_path, backend):
    night, _ = _ray_night(tmp_path, backend=backend)
    env = _agent_env(night)
    job_id = _submitted_id(night.cli("submit", "--hold", env=env).stdout)
    assert _post_tool_use(night, env).returncode == 0
    assert _records(night)[job_id]["state"] == "held", "a local job runs inside the sandbox, from `wait`"


@pytest.mark.parametrize(
    ("text", "ray"),
    [
        ('[tool.autoresearch.jobs]\nbackend = "ray"\n', True),
        ("[tool.autoresearch.jobs]\nbackend='ray'  # a cluster\n", True),
        ('[tool.autoresearch]\njobs.backend = "ray"\n', True),
        ('[tool.autoresearch]\njobs = { workers = 4, backend = "ray" }\n', True),
        ('[tool.autoresearch.jobs]\n"backend" = """ray"""\n', True),
        ('[tool.autoresearch.jobs]\nbackend = "local"  # or "ray"\n', False),
        ('ray = ["ray[default]==2.60.0"]\n[tool.autoresearch.jobs]\nworkers = 2\n', False),
    ],
)
def test_the_hooks_cheap_look_never_misses_a_ray_night(text, ray):
    from autoresearch import dispatch

    assert dispatch.may_name_ray(text.encode()) is ray
    if ray:  # and the real config agrees that these spellings do select Ray
        import tomllib

        table = tomllib.loads(text)["tool"]["autoresearch"]
        assert (table.get("jobs") or {}).get("backend", table.get("jobs.backend")) == "ray"
