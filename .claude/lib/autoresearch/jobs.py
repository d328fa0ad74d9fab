"""Runs as jobs: a supervisor process owns each run, so a killed CLI or Bash call never loses it.

`submit` writes a job record and starts `experiment.py _supervise JOB` detached (its own session, no
terminal, output to the job's log); the supervisor runs `runner.run` and writes the verdict into the record.
`wait` only reads records, so it works from any process, and from another pid namespace: inside Claude Code's
sandbox each Bash call has its own, where no pid from an earlier call means anything. Liveness is therefore a
heartbeat in the record, never a pid; cancelling is a file the supervisor polls, never a signal.

Inside the sandbox a job lives as long as the Bash call that started it (the call's pid namespace ends with
it); `run` waits in that same call, so the agent's one-call experience is unchanged.

The record, `.autoresearch/jobs/<id>.json`, has one writer (its supervisor, after `submit` created it) and
one shape: `Job` below, which `--json` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import fsutil, gitutil, procs, state

JOB_STATES = ("queued", "running", "done")
HEARTBEAT_SECONDS = 2.0  # the supervisor touches its record this often (the runner's descendant scan)
WAIT_SECONDS = 585.0  # `wait` returns before the Bash tool's 600 s cut-off, finished or not
START_SECONDS = 20.0  # a supervisor that has not picked its job up by then never started
CLI_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "experiment.py"


class JobError(Exception):
    """One line for the user: what is wrong and what to do."""


@dataclass
class Job:
    id: str
    commit: str  # the full commit the job measures
    state: str = "queued"  # one of JOB_STATES
    submitted_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    heartbeat: float = 0.0  # epoch seconds of the supervisor's last sign of life
    supervisor_pid: int | None = None  # meaningful only in the pid namespace `supervisor_ns`
    supervisor_ns: str | None = None
    log: str = ""  # the supervisor's own output (train.py's goes to run.log and .autoresearch/logs)
    verdict: dict | None = None  # the run's verdict (runner.run's dict) once done
    error: str | None = None  # one line when the job could not run at all

    def alive(self, now: float | None = None) -> bool:
        """Running with a fresh heartbeat, or queued and still within its start window."""
        now = time.time() if now is None else now
        if self.state == "done":
            return False
        window = START_SECONDS if self.state == "queued" else state.STALE_SECONDS
        if now - self.heartbeat >= window:
            return False
        if self.state == "running" and self.supervisor_ns == procs.namespace_id():
            return state.pid_alive(self.supervisor_pid)  # same namespace: a SIGKILL shows at once
        return True

    def to_dict(self) -> dict:
        return asdict(self)


def jobs_dir(cfg) -> Path:
    return cfg.jobs_dir


def _path(cfg, job_id: str) -> Path:
    return jobs_dir(cfg) / f"{job_id}.json"


def cancel_path(cfg, job_id: str) -> Path:
    return jobs_dir(cfg) / f"{job_id}.cancel"


def save(cfg, job: Job) -> None:
    jobs_dir(cfg).mkdir(parents=True, exist_ok=True)
    data = json.dumps(job.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
    fsutil.atomic_write(_path(cfg, job.id), data.encode("utf-8"))


def load(cfg, job_id: str) -> Job:
    try:
        raw = json.loads(_path(cfg, job_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobError(f"no job {job_id!r}: `status` lists the jobs") from None
    except (OSError, ValueError) as exc:
        raise JobError(f"job {job_id} has an unreadable record ({exc}): run it again") from None
    known = {f.name for f in fields(Job)}
    return Job(**{k: v for k, v in raw.items() if k in known})


def all_jobs(cfg) -> list[Job]:
    """Every job of the night, oldest first."""
    found = []
    for path in sorted(jobs_dir(cfg).glob("*.json")):
        try:
            found.append(load(cfg, path.stem))
        except JobError:
            continue
    return sorted(found, key=lambda j: j.submitted_at)


def in_flight(cfg) -> list[Job]:
    return [j for j in all_jobs(cfg) if j.alive()]


def _new_id(commit: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{commit[:7]}-{os.urandom(2).hex()}"


def submit(cfg, rev: str = "HEAD", python: str | None = None) -> Job:
    """Create the job and start its supervisor detached; returns at once."""
    commit = gitutil.try_rev_parse(cfg.root, rev)
    if commit is None:
        raise JobError(f"cannot resolve {rev!r} to a commit: give a commit, a branch or HEAD")
    head = gitutil.try_rev_parse(cfg.root, "HEAD")
    if commit != head:  # one worktree until workers exist: the job measures what is checked out
        raise JobError(f"{rev} is not HEAD ({str(head)[:7]}): check it out first, then submit")
    busy = in_flight(cfg)
    if busy:
        raise JobError(f"job {busy[0].id} is in flight: `wait {busy[0].id}`, or `cancel {busy[0].id}`")
    job = Job(id=_new_id(commit), commit=commit, submitted_at=state.now_iso(), heartbeat=time.time())
    job.log = str((jobs_dir(cfg) / f"{job.id}.log").relative_to(cfg.root))
    save(cfg, job)
    with open(cfg.root / job.log, "wb") as out:
        subprocess.Popen(
            [python or sys.executable, str(CLI_SCRIPT), "_supervise", job.id],
            cwd=cfg.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no signal aimed at the CLI's group or terminal reaches it
            close_fds=True,
        )
    return job


def supervise(cfg, job_id: str) -> Job:
    """The supervisor's body: run the job under runner.run, heartbeat, honour a cancel, write the verdict."""
    from . import runner

    job = load(cfg, job_id)
    job.state, job.started_at, job.supervisor_pid = "running", state.now_iso(), os.getpid()
    job.supervisor_ns = procs.namespace_id()
    job.heartbeat = time.time()
    save(cfg, job)

    def tick() -> str | None:
        job.heartbeat = time.time()
        save(cfg, job)
        return "cancel" if cancel_path(cfg, job_id).exists() else None

    try:
        job.verdict = runner.run(cfg, tick=tick, job_id=job_id)
    except runner.RunnerError as exc:
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the record must say why, in one line
        job.error = f"the supervisor failed unexpectedly ({exc}); its log: {job.log}"
    job.state, job.finished_at, job.heartbeat = "done", state.now_iso(), time.time()
    save(cfg, job)
    cancel_path(cfg, job_id).unlink(missing_ok=True)
    return job


def wait(
    cfg, job_ids: list[str] | None = None, any_of: bool = False, limit: float = WAIT_SECONDS, on_poll=None
):
    """Block until the jobs (default: the latest) are done, or one of them with `any_of`, or `limit` passes.

    Returns (finished jobs, jobs still going); a job whose supervisor stopped its heartbeat counts as
    finished, with an error that says so."""
    jobs = [load(cfg, i) for i in job_ids] if job_ids else all_jobs(cfg)[-1:]
    if not jobs:
        raise JobError("no job yet: start one with `run` or `submit`")
    deadline = time.monotonic() + limit
    while True:
        done, going = [], []
        for j in jobs:
            j = load(cfg, j.id)
            if j.state != "done" and not j.alive():
                j.error = (
                    f"its supervisor stopped (no heartbeat for {time.time() - j.heartbeat:.0f} s): "
                    "the next `run` cleans up what it left"
                )
                j.state = "done"
            (done if j.state == "done" else going).append(j)
        if not going or (any_of and done) or time.monotonic() >= deadline:
            return done, going
        if on_poll:
            on_poll()
        time.sleep(0.2)


def cancel(cfg, job_id: str) -> Job:
    job = load(cfg, job_id)
    if job.state == "done":
        raise JobError(f"job {job_id} already finished: nothing to cancel")
    cancel_path(cfg, job_id).write_text("cancel\n")
    done, _ = wait(cfg, [job_id], limit=cfg.kill_grace_seconds + 30)
    return done[0] if done else load(cfg, job_id)
