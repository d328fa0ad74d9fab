"""Runs as jobs: `submit` returns at once, `wait` prints the verdict, `cancel` stops one; real processes."""

from __future__ import annotations

import dataclasses
import json
import time

import psutil
import pytest
from autoresearch import jobs
from runner_helpers import clean_env, make_night

pytestmark = pytest.mark.slow


def _night(tmp_path):
    night = make_night(tmp_path, timeout=60)
    assert night.cli("setup").returncode == 0
    return night


def test_submit_returns_at_once_and_wait_prints_the_verdict(tmp_path):
    night = _night(tmp_path)
    t0 = time.monotonic()
    proc, job = night.json("submit", env=clean_env(FAKE_SLEEP="3"))
    assert proc.returncode == 0 and time.monotonic() - t0 < 2.5, proc.stderr
    assert set(job) == {f.name for f in dataclasses.fields(jobs.Job)}  # --json prints the record's shape
    assert job["state"] == "queued" and job["commit"] == night.head()
    busy = night.cli("submit")
    assert busy.returncode == 1 and f"wait {job['id']}" in busy.stderr
    assert busy.stderr.count("\n") == 1 and "Traceback" not in busy.stderr
    while "in-flight:" not in (status := night.cli("status").stdout):
        time.sleep(0.1)
    assert "wait: a run of" in status
    waited = night.cli("wait")
    assert waited.returncode == 0, waited.stderr
    assert f"job {job['id']}: done" in waited.stdout and "run: ok" in waited.stdout
    record = json.loads((night.root / ".autoresearch" / "jobs" / f"{job['id']}.json").read_text())
    assert record["state"] == "done" and record["verdict"]["outcome"] == "ok" and record["error"] is None
    assert night.cli("record", "keep", "baseline").returncode == 0


def test_cancel_stops_the_job_and_its_verdict_says_so(tmp_path):
    night = _night(tmp_path)
    proc, job = night.json("submit", env=clean_env(FAKE_SLEEP="120"))
    assert proc.returncode == 0
    while not (night.state().get("in_flight") or {}).get("pid"):
        time.sleep(0.05)
    train_pid = night.state()["in_flight"]["pid"]
    t0 = time.monotonic()
    cancelled = night.cli("cancel", job["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert time.monotonic() - t0 < 15
    assert "run: timeout" in cancelled.stdout and "cancelled" in cancelled.stdout
    assert not psutil.pid_exists(train_pid) or psutil.Process(train_pid).status() == psutil.STATUS_ZOMBIE
    assert night.cli("record", "crash", "cancelled on purpose").returncode == 0
    again = night.cli("cancel", job["id"])
    assert again.returncode == 1 and "already finished" in again.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("wait", "no-such-job"), "no job 'no-such-job'"),
        (("cancel", "no-such-job"), "no job 'no-such-job'"),
        (("submit", "HEAD~5"), "cannot resolve 'HEAD~5'"),
        (("wait",), "no job yet"),
    ],
)
def test_bad_job_arguments_get_one_line(tmp_path, args, message):
    night = _night(tmp_path)
    proc = night.cli(*args)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_terminal_gets_one_live_line_and_the_agents_bash_call_gets_none(tmp_path):
    import sys

    from runner_helpers import CLI
    from terminal import on_a_terminal

    night = _night(tmp_path)
    argv = [sys.executable, str(CLI), "run"]
    env = clean_env(FAKE_SLEEP="2", COLUMNS="100")
    code, shown, out = on_a_terminal(argv, "stderr", cwd=night.root, env=env)
    assert code == 0 and out.startswith("run: ok"), out
    assert "training" in shown and "step 2 loss 2.0000" in shown and "\r" in shown, shown
    plain = night.cli("wait")  # stderr is a pipe, as in the agent's Bash call: no live line
    assert "training" not in plain.stderr and "\r" not in plain.stderr
