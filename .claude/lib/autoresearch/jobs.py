"""Runs as jobs: a supervisor process owns each run, so a killed CLI or Bash call never loses it.

`submit` writes a job record and starts `experiment.py _supervise JOB` detached (its own session, no
terminal, output to the job's log); the supervisor runs `runner.run` and writes the verdict into the record.
`wait` only reads records, so it works from any process, and from another pid namespace: inside Claude Code's
sandbox each Bash call has its own, where no pid from an earlier call means anything. Liveness is therefore a
heartbeat in the record, never a pid; cancelling is a file the supervisor polls, never a signal.

Inside the sandbox a job lives as long as the Bash call that started it (the call's pid namespace ends with
it); `run` waits in that same call, so the agent's one-call experience is unchanged. A Ray job inside Claude
Code is the exception: the sandbox has no network, so it is always held, and the hooks, which run outside
the sandbox, start its supervisor when the Bash call ends (dispatch.py); it then outlives the call.

With `[tool.autoresearch.jobs] workers = N` above 1, or a job of a commit that is not HEAD, the job runs in
its own tree of its commit (`.autoresearch/worktrees/<id>`, exported from git) once it holds one of N
slot locks, pinned to one GPU or to an equal share of the CPU cores. The checkout, the ledger and the
state stay the CLI's: such a job writes only its own record, and `record --job` turns it into a row under
the lock.

The record, `.autoresearch/jobs/<id>.json`, has one writer (its supervisor, after `submit` created it) and
one shape: `Job` below, which `--json` prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import fsutil, gitutil, ledger, procs, state
from .dispatch import HELD_SUFFIX

JOB_STATES = ("held", "queued", "running", "done")  # held: submitted with --hold; `wait` starts it
SLOT_POLL_SECONDS = 0.05  # a queued job takes a freed slot this soon: the slots stay busy
HEARTBEAT_SECONDS = 2.0  # the supervisor touches its record this often (the runner's descendant scan)
WAIT_SECONDS = 585.0  # `wait` returns before the Bash tool's 600 s cut-off, finished or not
START_SECONDS = 20.0  # a supervisor that has not picked its job up by then never started
CLI_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "experiment.py"
# A record is agent-writable (.autoresearch/ is the night's data), so a supervisor checks what it acts on.
ID_PATTERN = re.compile(r"\d{8}T\d{6}-[0-9a-f]{7}-[0-9a-f]{4}")
COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")


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
    worktree: str | None = None  # repo-relative; None: the job ran in the checkout itself (one worker)
    slot: int | None = None  # which of the N worker slots it held
    device: str | None = None  # what it was pinned to: "cuda:1", or "cpu 0-7"
    base_commit: str | None = None  # the best when it was submitted: what `record --job` compares against
    run: dict | None = None  # a worktree job's finished run, as `record --job` reads it
    recorded: bool = False
    slot_held: list[float] | None = None  # epoch seconds [taken, freed]: how busy the scheduler kept it
    pgid: int | None = None  # train.py's process group, in the supervisor's namespace: a dead one's cleanup
    ray_submission: str | None = None  # backend "ray": the Ray job's submission id on the cluster

    def alive(self, now: float | None = None) -> bool:
        """Running with a fresh heartbeat, or queued and still within its start window."""
        now = time.time() if now is None else now
        if self.state in ("done", "held"):
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


def held_marker(cfg, job_id: str) -> Path:
    return jobs_dir(cfg) / f"{job_id}{HELD_SUFFIX}"


def checked(cfg, job: Job, job_id: str) -> Job:
    """The record as a supervisor may act on it: id and commits well-formed, paths derived from the id.

    Never the record's own paths: the agent's shell can write the record, and a Ray job's supervisor runs
    outside the sandbox, where a forged `worktree` would be removed and a forged `log` written."""
    if not ID_PATTERN.fullmatch(job_id) or job.id != job_id:
        raise JobError(f"job {job_id!r} has a malformed record: submit its commit again")
    if not COMMIT_PATTERN.fullmatch(str(job.commit)) or not (
        job.base_commit is None or COMMIT_PATTERN.fullmatch(str(job.base_commit))
    ):
        raise JobError(f"job {job_id} names no full commit: submit its commit again")
    job.log = str((jobs_dir(cfg) / f"{job_id}.log").relative_to(cfg.root))
    if job.worktree is not None or cfg.jobs.backend != "local":
        job.worktree = str((cfg.worktree_dir / job_id).relative_to(cfg.root))
    return job


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


def unrecorded(cfg, every: list[Job] | None = None) -> list[Job]:
    """Worktree jobs whose finished run no `record --job` has taken yet, oldest first.

    A run remeasured by a later job of the same commit is left out: that job carries its value."""
    waiting = [j for j in (every or all_jobs(cfg)) if j.state == "done" and j.run and not j.recorded]
    waiting = [j for j in waiting if j.run.get("outcome") != "lost"]  # lost: resubmitted, never recorded
    merged = {m for j in waiting for m in (j.run.get("merges") or [])}
    return [j for j in waiting if j.id not in merged]


def visible_gpus() -> list[str]:
    """The GPU ids a job may be pinned to, without importing torch (the hooks import this module)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def worker_count(cfg) -> int:
    workers = cfg.jobs.workers
    if workers == "auto":
        return max(1, len(visible_gpus()))
    return int(workers)


def _pin(slot: int, workers: int) -> tuple[str, dict]:
    """The device of `slot`: one GPU each while there are GPUs, else an equal share of the CPU cores.

    The cores are set as this process's affinity, so train.py and the scorer inherit them (train.py sizes
    its threads from its affinity)."""
    gpus = visible_gpus()
    if gpus:
        gpu = gpus[slot % len(gpus)]
        return f"cuda:{gpu}", {"CUDA_VISIBLE_DEVICES": gpu}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores:
        return "cpu", {}
    share = max(1, len(cores) // workers)
    mine = cores[(slot * share) % len(cores) :][:share]
    os.sched_setaffinity(0, mine)
    env = {"OMP_NUM_THREADS": str(len(mine)), "MKL_NUM_THREADS": str(len(mine))}
    return f"cpu {mine[0]}-{mine[-1]}", env


def _take_slot(cfg, job: Job, workers: int):
    """Block (heartbeating, honouring a cancel) until one of the `workers` slot locks is ours."""
    import fcntl

    jobs_dir(cfg).mkdir(parents=True, exist_ok=True)
    next_beat = 0.0
    while True:
        for slot in range(workers):
            fd = os.open(jobs_dir(cfg) / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return slot, fd  # held until this process exits: a dead supervisor frees its slot
            except BlockingIOError:
                os.close(fd)
        if cancel_path(cfg, job.id).exists():
            return None, None
        if time.monotonic() >= next_beat:
            job.heartbeat = time.time()
            save(cfg, job)
            next_beat = time.monotonic() + HEARTBEAT_SECONDS
        time.sleep(SLOT_POLL_SECONDS)


def runs_in_worktree(cfg, commit: str) -> bool:
    if cfg.jobs.backend != "local" or worker_count(cfg) > 1:
        return True
    return commit != gitutil.try_rev_parse(cfg.root, "HEAD")


def _add_worktree(cfg, job: Job) -> Path:
    """The job's own tree: the commit's files exported from git into a fresh folder.

    Not `git worktree add`: Claude Code's sandbox mounts .git/worktrees read-only (it could carry hooks), so
    a linked worktree cannot be made inside it. An export needs only reads of the object store."""
    path = cfg.worktree_dir / job.id
    path.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "archive", "--format=tar", job.commit], cwd=cfg.root, stdout=subprocess.PIPE
    )
    untar = subprocess.run(["tar", "-x", "-C", str(path)], stdin=archive.stdout, capture_output=True)
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        why = untar.stderr.decode("utf-8", "replace").strip() or f"git archive exited {archive.returncode}"
        raise JobError(f"could not export {job.commit[:7]} into {path}: {why}")
    return path


def _remove_worktree(cfg, path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _new_id(commit: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{commit[:7]}-{os.urandom(2).hex()}"


# Supervisors this process started: `wait` reaps them, so a `run` returns only once its supervisor is gone.
_STARTED: dict[str, subprocess.Popen] = {}
SUPERVISOR_EXIT_SECONDS = 5.0


def _reap_started(job_id: str) -> None:
    proc = _STARTED.pop(job_id, None)
    if proc is not None:
        try:
            proc.wait(timeout=SUPERVISOR_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            pass  # it wrote its verdict; a slow interpreter exit must not hold the CLI


def hooks_start_held(cfg) -> bool:
    """Ray jobs inside Claude Code: its sandbox has no network and ends a job with its Bash call, so the
    hooks (outside the sandbox) start held jobs instead of `wait` (dispatch.py)."""
    from .report import in_agent_session

    return cfg.jobs.backend == "ray" and in_agent_session()


def submit(cfg, rev: str = "HEAD", python: str | None = None, hold: bool = False) -> Job:
    """Create the job and start its supervisor detached; returns at once.

    `hold` starts nothing: the next `wait` starts every held job and waits for them in the same call,
    which is how a wave runs inside Claude Code's sandbox (a job dies with the Bash call that started it).
    A Ray job inside Claude Code is always held: the hooks start it when this call ends."""
    commit = gitutil.try_rev_parse(cfg.root, rev)
    if commit is None:
        raise JobError(f"cannot resolve {rev!r} to a commit: give a commit, a branch or HEAD")
    hold = hold or hooks_start_held(cfg)
    worktree = hold or runs_in_worktree(cfg, commit)
    reap_dead(cfg)
    busy = in_flight(cfg)
    in_checkout = [j for j in busy if not j.worktree]
    if in_checkout or (busy and not worktree):  # a run in the checkout needs HEAD to hold still
        j = (in_checkout or busy)[0]
        raise JobError(f"job {j.id} is in flight: `wait {j.id}`, or `cancel {j.id}`")
    st = state.load(cfg) or {}
    job = Job(id=_new_id(commit), commit=commit, submitted_at=state.now_iso(), heartbeat=time.time())
    job.base_commit = st.get("incumbent_commit") or st.get("baseline_commit")
    job.log = str((jobs_dir(cfg) / f"{job.id}.log").relative_to(cfg.root))
    if worktree:
        job.worktree = str((cfg.worktree_dir / job.id).relative_to(cfg.root))
        # the commit stays reachable when the checkout moves on (and the report shows its diff)
        gitutil.git(cfg.root, "update-ref", gitutil.night_ref(st.get("tag") or "night", commit), commit)
    if hold:
        job.state = "held"
        save(cfg, job)
        held_marker(cfg, job.id).touch()
        return job
    save(cfg, job)
    return start(cfg, job, python)


def start(cfg, job: Job, python: str | None = None, isolated: bool = False) -> Job:
    """Start the job's supervisor: detached, its own session, its output in the job's log.

    A held job is claimed first, once, whoever asks (a `wait`, the hooks); `isolated` runs the supervisor's
    interpreter with -I (no PYTHON* variables, no user site), as the hooks do outside the sandbox."""
    if job.state == "held":
        claimed = _claim(cfg, job.id)
        if claimed is None:
            return load(cfg, job.id)  # another caller started it
        job = claimed
    job = checked(cfg, job, job.id)
    flags = ["-I"] if isolated else []
    with open(cfg.root / job.log, "wb") as out:
        _STARTED[job.id] = subprocess.Popen(
            [python or sys.executable, *flags, str(CLI_SCRIPT), "_supervise", job.id],
            cwd=cfg.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no signal aimed at the CLI's group or terminal reaches it
            close_fds=True,
        )
    return job


def _claim(cfg, job_id: str) -> Job | None:
    """Move a held job to queued, exactly once (a flock, so callers in any pid namespace agree)."""
    import fcntl

    fd = os.open(jobs_dir(cfg) / "claim.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        job = load(cfg, job_id)
        held_marker(cfg, job_id).unlink(missing_ok=True)
        if job.state != "held":
            return None
        job.state, job.heartbeat = "queued", time.time()
        save(cfg, job)
        return job
    finally:
        os.close(fd)


def project_python(cfg) -> Path:
    """The project environment's interpreter (uv's: $UV_PROJECT_ENVIRONMENT, else .venv), which the sandbox
    keeps read-only (`Config.environment_paths`), so that running it outside the sandbox trusts nothing the
    agent could write."""
    named = os.environ.get("UV_PROJECT_ENVIRONMENT")
    venv = Path(named) if named else Path(".venv")
    return (venv if venv.is_absolute() else cfg.root / venv) / "bin" / "python"


def fail_held(cfg, job_id: str, why: str) -> None:
    """A held job that cannot start ends with that line, so no `wait` waits for it."""
    try:
        job = load(cfg, job_id)
    except JobError:
        return
    if job.state == "held":
        job.state, job.finished_at, job.error = "done", state.now_iso(), why
        save(cfg, job)


def reap_dead(cfg) -> list[str]:
    """Worktree jobs whose supervisor died (SIGKILL, a lost machine): end what they left, mark them done.

    A job in the checkout is the runner's to clean up (its in-flight entry in the state)."""
    from . import runner

    cleaned = []
    for job in all_jobs(cfg):
        if job.state in ("done", "held") or job.alive() or not job.worktree:
            continue
        how = "its processes ended with the pid namespace that ran them"
        if job.pgid and job.supervisor_ns == procs.namespace_id():
            how = runner.kill_group(job.pgid, cfg.kill_grace_seconds)
        job.state, job.finished_at = "done", state.now_iso()
        job.error = f"its supervisor stopped before a verdict ({how}): submit {job.commit[:7]} again"
        save(cfg, job)
        path = cfg.root / job.worktree
        if path.exists():
            _remove_worktree(cfg, path)
        cleaned.append(job.id)
    return cleaned


def back_to_best(cfg, job: Job) -> str | None:
    """After a wave submit of HEAD: return the checkout to the best, so the next idea starts from it.

    Only a clean fast-forward case is moved (HEAD a descendant of the best); the commit itself stays
    reachable under refs/autoresearch/. Returns what was done, in words, or None."""
    best = job.base_commit
    head = gitutil.try_rev_parse(cfg.root, "HEAD")
    if not job.worktree or not best or head != job.commit or head == best:
        return None
    if not gitutil.is_ancestor(cfg.root, best, head) or gitutil.dirty_tracked_files(cfg.root):
        return None
    gitutil.reset_hard(cfg.root, best)
    return f"HEAD is back at the best {best[:7]}: commit the next idea off it and submit it"


def supervise(cfg, job_id: str) -> Job:
    """The supervisor's body: run the job under runner.run, heartbeat, honour a cancel, write the verdict."""
    from . import runner

    job = checked(cfg, load(cfg, job_id), job_id)
    job.supervisor_pid, job.supervisor_ns = os.getpid(), procs.namespace_id()
    workers = worker_count(cfg)
    slot, _slot_fd = _take_slot(cfg, job, workers)
    path = None
    if slot is None:
        job.error = "cancelled before it started"
    else:
        job.slot, job.slot_held = slot, [time.time(), time.time()]
        remote = cfg.jobs.backend == "ray"
        job.device, env = ("ray", {}) if remote else _pin(slot, workers)  # Ray pins the device there
        job.state, job.started_at, job.heartbeat = "running", state.now_iso(), time.time()
        save(cfg, job)

        def tick() -> str | None:
            job.heartbeat = time.time()
            save(cfg, job)
            return "cancel" if cancel_path(cfg, job_id).exists() else None

        try:
            if job.worktree:
                path = _add_worktree(cfg, job)

            def on_flight(flight: dict) -> None:
                job.pgid = flight.get("pgid")
                job.ray_submission = flight.get("ray_submission")
                save(cfg, job)

            if remote:
                from . import raybackend

                result = raybackend.run(cfg, job, path, tick, on_flight)
            else:
                result = runner.run(
                    cfg,
                    tick=tick,
                    job_id=job_id,
                    workdir=path,
                    env=env,
                    on_flight=on_flight,
                    commit=job.commit,
                )
            if job.worktree:
                job.verdict, job.run = result
                # a copy where the keeper journals it: `record --job` still finds the run if this record goes
                ledger.append_record(
                    cfg.sidecar_path, {**job.run, "pending_job": job.id, "recorded": False, "status": None}
                )
            else:
                job.verdict = result
        except Exception as exc:  # noqa: BLE001 - one line in the record, whatever failed
            known = type(exc).__name__ in ("RunnerError", "JobError", "RayError")
            unexpected = f"the supervisor failed unexpectedly ({exc}); its log: {job.log}"
            job.error = str(exc) if known else unexpected
        finally:
            if path is not None:
                _remove_worktree(cfg, path)
    cancel_path(cfg, job_id).unlink(missing_ok=True)
    if job.slot_held:
        job.slot_held[1] = time.time()  # the slot is free once this process exits, a moment later
    job.state, job.finished_at, job.heartbeat = "done", state.now_iso(), time.time()
    save(cfg, job)  # the last act: a waiter that sees "done" finds nothing else left to do
    return job


def wait(
    cfg, job_ids: list[str] | None = None, any_of: bool = False, limit: float = WAIT_SECONDS, on_poll=None
):
    """Block until the jobs (default: the latest) are done, or one of them with `any_of`, or `limit` passes.

    Returns (finished jobs, jobs still going); a job whose supervisor stopped its heartbeat counts as
    finished, with an error that says so."""
    jobs = [load(cfg, i) for i in job_ids] if job_ids else _default_waited(cfg)
    if not jobs:
        raise JobError("no job yet: start one with `run` or `submit`")
    held = [j.id for j in jobs if j.state == "held"]
    if held and not hooks_start_held(cfg):  # else they start when this call ends, from the hooks
        jobs = [start(cfg, j) if j.state == "held" else j for j in jobs]
        any_of = False  # jobs this call starts may die with it (the sandbox): see every one of them through
    deadline = time.monotonic() + limit
    while True:
        done, going = [], []
        for j in jobs:
            j = load(cfg, j.id)
            if j.state == "held":  # not this call's to start: nothing to wait for before it ends
                going.append(j)
                continue
            if j.state != "done" and not j.alive():
                j.error = (
                    f"its supervisor stopped (no heartbeat for {time.time() - j.heartbeat:.0f} s): "
                    "the next `run` cleans up what it left"
                )
                j.state = "done"
            (done if j.state == "done" else going).append(j)
        for j in done:
            _reap_started(j.id)
        running = [j for j in going if j.state != "held"]
        if not running or (any_of and done) or time.monotonic() >= deadline:
            return done, going
        if on_poll:
            on_poll()
        time.sleep(0.2)


def _default_waited(cfg) -> list[Job]:
    """No ids: every job in flight and every finished one not recorded yet; else the latest job."""
    everything = all_jobs(cfg)
    waiting = unrecorded(cfg, everything)
    open_jobs = [j for j in everything if j.alive() or j.state == "held" or j in waiting]
    return open_jobs or everything[-1:]


def cancel(cfg, job_id: str) -> Job:
    job = load(cfg, job_id)
    if job.state == "done":
        raise JobError(f"job {job_id} already finished: nothing to cancel")
    if job.state == "held":
        job.state, job.finished_at, job.error = "done", state.now_iso(), "cancelled before it started"
        save(cfg, job)
        held_marker(cfg, job_id).unlink(missing_ok=True)
        return job
    cancel_path(cfg, job_id).write_text("cancel\n")
    done, _ = wait(cfg, [job_id], limit=cfg.kill_grace_seconds + 30)
    return done[0] if done else load(cfg, job_id)
