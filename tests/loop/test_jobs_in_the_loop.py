"""The Stop and SessionStart hooks know about jobs: held, running, finished but unrecorded, idle workers.

Job records are written by the jobs module itself (jobs.save), as a supervisor would leave them."""

from __future__ import annotations

import os
import time

import pytest
from autoresearch import jobs, procs, state
from test_stop_hook import reason_of


def _workers(project, n: int) -> None:
    path = project.root / "pyproject.toml"
    path.write_text(path.read_text().replace("workers = 1 ", f"workers = {n} ", 1))
    assert project.cfg.jobs.workers == n


def _job(project, commit: str, **fields) -> jobs.Job:
    job = jobs.Job(id=f"20261201T000000-{commit[:7]}-{len(fields):04x}", commit=commit, **fields)
    job.submitted_at = job.submitted_at or state.now_iso()
    job.worktree = f".autoresearch/worktrees/{job.id}"
    jobs.save(project.cfg, job)
    return job


@pytest.fixture
def wave(project):
    _workers(project, 2)
    project.setup_state()
    project.measured_baseline(1.0)
    return project


def test_idle_workers_are_the_next_step(wave):
    reason = reason_of(wave.stop())
    assert "all 2 workers idle: start a wave" in reason and "submit --hold" in reason


def test_a_held_job_says_hold_another_or_wait(wave):
    job = _job(wave, wave.commit_change("held idea"), state="held")
    reason = reason_of(wave.stop())
    assert "1 job(s) held, 1 worker(s) still free" in reason and "experiment.py wait" in reason
    assert f"held: {job.id}" in wave.session_start()


def test_a_running_job_with_an_idle_worker_names_the_idle_gpu(wave):
    job = _job(wave, wave.commit_change("running idea"), state="running", heartbeat=time.time())
    job.supervisor_pid, job.supervisor_ns = os.getpid(), procs.namespace_id()  # alive: this very process
    jobs.save(wave.cfg, job)
    reason = reason_of(wave.stop())
    assert "1 of 2 workers idle while 1 job(s) run" in reason
    assert f"job: {job.id}" in wave.session_start()


def test_a_finished_unrecorded_job_must_be_recorded_first(wave):
    commit = wave.commit_change("finished idea")
    run = dict(commit=commit, outcome="ok", comparable=True, replicates=[0.99], val_bpb=0.99)
    run["suggestion"] = "keep"
    run["next"] = 'uv run scripts/experiment.py record --job J keep "finished idea"'
    job = _job(wave, commit, state="done", run=run)
    reason = reason_of(wave.stop())
    assert "record --job J keep" in reason
    context = wave.session_start()
    assert f"to record: {job.id} {commit[:7]} ok 0.990000 suggest keep" in context
    job.recorded = True
    jobs.save(wave.cfg, job)
    assert "all 2 workers idle" in reason_of(wave.stop())
