"""backend = "ray" against a real local Ray cluster on 127.0.0.1 (tests/ray_head.py, one head per session):
the real project, real training on the embedded corpus, the attested score computed on the worker and sent
back. No mocks of Ray. Two jobs at different commits at once, each attested and recorded: the wave through
the real client, tests/e2e/test_ray_wave.py (the same commands as here, from inside the sandbox)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from autoresearch import config, ledger
from project_copy import copy_project, git
from ray_head import free_port

pytestmark = pytest.mark.slow

BUDGET = 3  # seconds of training per run
CLI = ["scripts/experiment.py"]
HANG_MARK = "4242.5"  # a descendant `sleep` that only the worker-side sweep can end


class Night:
    def __init__(self, root: Path, env: dict):
        self.root, self.env = root, env
        self.cfg = config.load(root)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *CLI, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def ok(self, *args: str, timeout: float = 300) -> str:
        proc = self.cli(*args, timeout=timeout)
        assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        return proc.stdout

    def idea(self, line: str, message: str) -> str:
        path = self.root / "train.py"
        path.write_text(path.read_text() + f"\n{line}\n")
        git(self.root, "commit", "-qam", message)
        return git(self.root, "rev-parse", "HEAD")

    def job(self, job_id: str) -> dict:
        return json.loads((self.root / ".autoresearch" / "jobs" / f"{job_id}.json").read_text())

    def rows(self) -> list:
        return ledger.read_rows(self.cfg.results_path)


def _night(tmp_path, cache, address: str, **edits) -> Night:
    root = tmp_path / "night"
    lines = {
        "workers = 1": "workers = 2",
        'backend = "local"': 'backend = "ray"',
        'address = ""': f'address = "{address}"',
        "baseline_repeats = 2": "baseline_repeats = 1",
        **edits,
    }
    night = Night(root, copy_project(root, BUDGET, cache, lines))
    night.ok("setup")
    return night


def _held_id(out: str) -> str:
    return out.split("job ", 1)[1].split(" ", 1)[0]


def test_a_job_past_its_timeout_is_stopped_and_leaves_no_process_on_the_worker(
    tmp_path, embedded_cache, ray_cluster
):
    night = _night(
        tmp_path,
        embedded_cache,
        ray_cluster.address,
        **{"hard_timeout_seconds = 570": "hard_timeout_seconds = 20"},
    )
    night.ok("run")
    night.ok("record", "keep", "baseline")
    hang = [
        "import subprocess, time",
        f'subprocess.Popen(["sleep", "{HANG_MARK}"])',
        'print("step 0 hanging", flush=True)',
        "time.sleep(600)",
    ]
    (night.root / "train.py").write_text("\n".join(hang) + "\n")
    git(night.root, "commit", "-qam", "exp: hangs")
    t0 = time.monotonic()
    proc = night.cli("run", timeout=300)
    assert proc.returncode == 1 and "run: timeout" in proc.stdout, proc.stdout + proc.stderr
    assert time.monotonic() - t0 < 20 + 60 + 30
    deadline = time.monotonic() + 20
    while ray_cluster.processes(f"sleep {HANG_MARK}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_cluster.processes(f"sleep {HANG_MARK}"), "the worker-side sweep left a descendant"
    night.ok("record", "crash", "hangs")
    assert [r.status for r in night.rows()] == ["keep", "crash"]


def test_a_killed_ray_job_is_lost_and_a_resubmission_succeeds(tmp_path, embedded_cache, ray_cluster):
    from ray.job_submission import JobStatus, JobSubmissionClient

    night = _night(tmp_path, embedded_cache, ray_cluster.address)
    night.ok("run")
    night.ok("record", "keep", "baseline")
    commit = night.idea("import time; time.sleep(8)  # long enough to be killed mid-job", "exp: slow start")
    job_id = _held_id(night.ok("submit", "--hold"))
    waiting = subprocess.Popen(
        [sys.executable, *CLI, "wait"], cwd=night.root, env=night.env, stdout=subprocess.PIPE, text=True
    )
    client = JobSubmissionClient(ray_cluster.address)
    submission = f"autoresearch-{job_id}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if client.get_job_status(submission) == JobStatus.RUNNING:
                break
        except RuntimeError:  # not submitted yet
            pass
        assert time.monotonic() < deadline, "the Ray job never started"
        time.sleep(0.2)
    actor = [line for line in ray_cluster.processes("ray::JobSupervisor")]
    assert len(actor) == 1, actor
    os.kill(int(actor[0].split()[0]), signal.SIGKILL)  # the worker process that owns the job
    out, _ = waiting.communicate(timeout=300)
    assert "run: lost" in out and "resubmit" in out, out
    status = night.ok("status")
    assert "lost: " in status and f"submit --hold {commit[:7]}" in status
    refused = night.cli("record", "--job", job_id, "crash", "slow start")
    assert refused.returncode == 1 and "resubmit" in refused.stderr and refused.stderr.count("\n") == 1
    again = _held_id(night.ok("submit", "--hold", commit[:7]))
    assert "run: ok" in night.ok("wait", timeout=600)
    night.ok("record", "--job", again, "discard", "slow start")
    assert [r.status for r in night.rows()] == ["keep", "discard"]
    assert "lost: " not in night.ok("status")


def test_an_unreachable_cluster_gets_one_line_and_nothing_is_recorded(tmp_path, embedded_cache):
    address = f"http://127.0.0.1:{free_port()}"
    night = _night(tmp_path, embedded_cache, address)
    proc = night.cli("run", timeout=120)
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot reach the Ray cluster at {address}" in proc.stderr and "ray start --head" in proc.stderr
    assert night.rows() == [] and "record" not in proc.stdout
