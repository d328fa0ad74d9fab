"""The Ray backend: a job of `[tool.autoresearch.jobs] backend = "ray"` runs as a Ray job on a cluster.

The job's supervisor stays on the agent's machine (it owns the job record, the heartbeat and the verdict, as
for a local job); only the training and the attested scoring move. Per job:

1. the commit's tree, exported as for a local job, gets `.autoresearch-remote/`: the pristine harness from
   setup, this trusted library (the checkout's own copy, hashed at setup, never the commit's), and `plan.json`
   with what the worker cannot ask git (head, base, subject, the tracked hashes, the harness hash);
2. it is submitted through the Jobs API with that folder as the working directory, one GPU (or `gpus`) and
   `cpus` CPUs; Ray sets CUDA_VISIBLE_DEVICES;
3. on the worker, `ray_worker.py` runs `runner.run` in its remote form (the same supervision, timeout, sweep
   and attestation) and streams train.py's output, then prints its run as a marked line and the kept model
   as marked base64 lines (the Jobs API's one channel back is the log);
4. here, the log goes to `.autoresearch/logs/<job>.log` without the marked lines, the model to the artifact
   folder (so the held-out test works in the morning), and the suggestion and verdict are made as for a
   local job. The ledger, the state, the memory and the hooks never leave this machine.

A job whose Ray job dies without a result (its node or its supervisor actor lost) is `lost`: not a crash of
the idea; `status` says resubmit. Ray is imported only here, only when a job runs on it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

from . import attest, gitutil, ledger, state
from . import outcomes as oc

REMOTE_DIR = ".autoresearch-remote"  # inside the job's tree: what the worker needs besides the commit
RESULT_MARK = "AUTORESEARCH-RESULT "
ARTIFACT_MARK = "AUTORESEARCH-ARTIFACT "
ARTIFACT_META_MARK = "AUTORESEARCH-ARTIFACT-META "
ARTIFACT_LIMIT_BYTES = 64 * 1024 * 1024  # larger models stay on the worker: see docs/ray.md
ARTIFACT_CHUNK = 76 * 1024  # base64 characters per log line
POLL_SECONDS = 1.0
UNREACHABLE_SECONDS = 60.0  # the cluster unanswering this long during a job: the job is lost
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
PASSED_ENV = ("AUTORESEARCH_TIME_BUDGET", "AUTORESEARCH_CACHE", "AUTORESEARCH_DEVICE")  # to the worker
LOST_ERROR_TYPES = ("JOB_SUPERVISOR_ACTOR_DIED", "NODE_DIED", "JOB_SUPERVISOR_ACTOR_START_FAILURE")


class RayError(Exception):
    """One line: what is wrong with the cluster and how to fix it."""


def address(cfg) -> str:
    return cfg.jobs.address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS


def client(cfg):
    """A Jobs API client for the configured cluster, or one line naming the address and the fix."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise RayError(
            'backend = "ray" needs Ray on this machine: `uv sync --extra ray` (it is locked in uv.lock)'
        ) from None
    where = address(cfg)
    try:
        return JobSubmissionClient(where)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayError(
            f"cannot reach the Ray cluster at {where} ({first[:160]}): start it (`ray start --head`) or set "
            "[tool.autoresearch.jobs] address (or RAY_ADDRESS) to its dashboard, e.g. http://head:8265"
        ) from None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_head(temp: Path, cpus: int, gpus: int, timeout: float = 120) -> str:
    """`ray start --head` on 127.0.0.1 with free ports, from this environment (so a job's `python` is this
    interpreter, with torch and the lock); returns the dashboard address once the Jobs API answers. For
    tests, benchmarks and a one-machine night; `stop_local_head` ends it. `temp` must be a short path
    (Ray's socket paths have to fit in 107 bytes)."""
    import subprocess
    import sys

    if _ray_node_running():  # `ray stop` cannot tell heads apart: never start one where it would end another
        raise RayError(
            "a Ray node already runs on this machine, and stopping a local head stops every Ray process: "
            "run this where no Ray node runs, or stop it first (`ray stop`)"
        )
    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0"
    )
    env.pop("RAY_ADDRESS", None)
    dashboard = _free_port()
    args = [
        str(bin_dir / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1",
        "--port", str(_free_port()),
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard), "--include-dashboard", "true",
        "--ray-client-server-port", str(_free_port()), "--num-cpus", str(cpus), "--num-gpus", str(gpus),
        "--object-store-memory", str(200 * 2**20), "--temp-dir", str(temp), "--disable-usage-stats",
    ]  # fmt: skip
    started = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if started.returncode != 0:
        raise RayError(f"ray start failed: {(started.stderr or started.stdout).strip()[-300:]}")
    where = f"http://127.0.0.1:{dashboard}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            JobSubmissionClient(where).list_jobs()
            return where
        except Exception:  # noqa: BLE001 - the dashboard takes a few seconds to answer
            if time.monotonic() > deadline:
                raise RayError(f"the local Ray head at {where} never answered") from None
            time.sleep(0.5)


def _ray_node_running() -> bool:
    """A raylet of any user's cluster on this machine (read from /proc; psutil where there is none)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        if any(part.endswith("/raylet/raylet") for part in proc.info["cmdline"] or []):
            return True
    return False


def stop_local_head() -> None:
    import subprocess
    import sys

    ray = Path(sys.executable).parent / "ray"
    subprocess.run([str(ray), "stop", "--force"], capture_output=True, timeout=120)


def _stage(cfg, st: dict, job, tree: Path) -> dict:
    """Put the harness, the trusted library and the plan into the job's tree; returns the plan."""
    from . import runner

    remote = tree / REMOTE_DIR
    remote.mkdir()
    folder, sha = attest.pristine_harness(cfg, st)
    shutil.copytree(folder, remote / "harness")
    lib = Path(__file__).resolve().parent
    _check_library(cfg, st, lib)
    shutil.copytree(lib, remote / "lib" / lib.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    listed = gitutil.git(cfg.root, "ls-tree", "-r", "-z", "--name-only", st["baseline_commit"], strip=False)
    tracked = set(listed.split("\0"))
    incumbent = st.get("incumbent_commit") or st.get("baseline_commit")
    if incumbent == job.commit or (incumbent and gitutil.is_ancestor(cfg.root, incumbent, job.commit)):
        base = incumbent
    else:
        base = gitutil.try_rev_parse(cfg.root, f"{job.commit}~1") or job.commit
    plan = {
        "job": job.id,
        "head": job.commit,
        "base": base,
        "subject": gitutil.commit_subject(cfg.root, job.commit),
        "hashes": {k: v for k, v in (st.get("protected_hashes") or {}).items() if k in tracked},
        "harness": f"{REMOTE_DIR}/harness",
        "harness_sha256": sha,
        "baseline_commit": st.get("baseline_commit"),
        "config": {f: _plain(getattr(cfg, f)) for f in type(cfg).FIELDS if f not in runner.LOCAL_CONFIG},
    }
    (remote / "plan.json").write_text(json.dumps(plan, indent=2), encoding="utf-8")
    return plan


def _check_library(cfg, st: dict, lib: Path) -> None:
    """The library shipped to the worker runs and attests there: it must be byte for byte setup's."""
    hashes = st.get("protected_hashes") or {}
    for path in sorted(lib.glob("*.py")):
        rel = os.path.relpath(path, cfg.root)
        if rel in hashes and attest.sha256_file(path) != hashes[rel]:
            raise RayError(
                f"{rel} differs from setup's copy, and it would run on the worker: restore it "
                f"(git checkout {str(st.get('baseline_commit'))[:7]} -- {rel}), then submit again"
            )


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


class _LogCopy:
    """Copies the Ray job's log into the local full log as it grows, keeping the marked lines aside."""

    def __init__(self, path: Path):
        self.path, self.seen, self.result, self.meta, self.chunks = path, 0, None, None, []
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def update(self, text: str, final: bool = False) -> None:
        new = text[self.seen :]
        cut = len(new) if final else new.rfind("\n") + 1  # whole lines only, until the end
        if cut <= 0:
            return
        self.seen += cut
        plain = []
        for line in new[:cut].splitlines(keepends=True):
            if line.startswith(RESULT_MARK):
                self.result = json.loads(line[len(RESULT_MARK) :])
            elif line.startswith(ARTIFACT_META_MARK):
                self.meta = json.loads(line[len(ARTIFACT_META_MARK) :])
            elif line.startswith(ARTIFACT_MARK):
                self.chunks.append(line[len(ARTIFACT_MARK) :].strip())
            else:
                plain.append(line)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(plain))

    def tail(self, n: int) -> list[str]:
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [ln for ln in lines if ln.strip()][-n:]


def _name(status) -> str:
    return str(getattr(status, "value", status))


def _finished(status) -> bool:
    return _name(status) in ("SUCCEEDED", "FAILED", "STOPPED", "UNREACHABLE")


def run(cfg, job, tree: Path, tick, on_flight=None) -> tuple[dict, dict]:
    """Run the job on the cluster; returns (verdict, run) exactly as a local job beside the checkout does."""
    from . import runner

    st = runner._load_state(cfg)
    ray = client(cfg)
    plan = _stage(cfg, st, job, tree)
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    submission = f"autoresearch-{job.id}"
    started_at, t0 = state.now_iso(), time.monotonic()
    try:
        ray.submit_job(
            entrypoint=f"python {REMOTE_DIR}/lib/autoresearch/ray_worker.py",
            submission_id=submission,
            runtime_env={"working_dir": str(tree), "env_vars": env},
            entrypoint_num_gpus=cfg.jobs.gpus or None,
            entrypoint_num_cpus=cfg.jobs.cpus or None,
            metadata={"autoresearch_job": job.id, "commit": job.commit},
        )
    except Exception as exc:  # noqa: BLE001 - the Jobs API raises RuntimeError with the server's text
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RayError(f"the Ray cluster at {address(cfg)} refused the job: {first[:200]}") from None
    if on_flight:
        on_flight({"ray_submission": submission, "address": address(cfg)})
    log_path = cfg.full_log_path(job.commit, started_at, job.id)
    logs = _LogCopy(log_path)
    deadline = t0 + cfg.hard_timeout_seconds + cfg.kill_grace_seconds + 60  # the worker times out first
    stopped, unreachable_since, status = None, None, None
    while True:
        try:
            status = ray.get_job_status(submission)
            logs.update(ray.get_job_logs(submission))
            unreachable_since = None
        except Exception:  # noqa: BLE001 - a cluster that stops answering: lost after a while
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > UNREACHABLE_SECONDS:
                status = "UNREACHABLE"
                break
        if status is not None and _finished(status):
            break
        reason = tick() if tick else None
        if reason or time.monotonic() > deadline:
            stopped = stopped or (reason or "the hard timeout")
            _stop(ray, submission)
        time.sleep(POLL_SECONDS)
    if _name(status) != "UNREACHABLE":
        try:
            logs.update(ray.get_job_logs(submission), final=True)
        except Exception:  # noqa: BLE001
            pass
    wall = time.monotonic() - t0
    last = logs.result
    if last is None:
        last = _unscored(cfg, ray, submission, plan, status, stopped, started_at, wall)
    else:
        _bring_back_model(cfg, job.commit, logs, last)
        _check_device_type(cfg, st, last)
    last.update(job=job.id, log=str(log_path.relative_to(cfg.root)), merges=[], ray_submission=submission)
    last.setdefault("started_at", started_at)
    tail = logs.tail(cfg.tail_lines) if last["outcome"] not in (oc.OK, oc.MISMATCH, oc.LEAK) else []
    runner._suggest(cfg, st, last)
    notes = [f"ran on the Ray cluster at {address(cfg)} as {submission}"]
    return runner._verdict(cfg, last, notes, tail), last


def _check_device_type(cfg, st: dict, last: dict) -> None:
    """Runs on another GPU model than the baseline's are not comparable: its figures differ by hardware."""
    baseline = st.get("baseline_commit")
    tagged = [
        r.get("device_type")
        for r in ledger.read_records(cfg.sidecar_path)
        if r.get("commit") == baseline and r.get("device_type") and r.get("status")
    ]
    mine = last.get("device_type")
    if tagged and mine and mine != tagged[-1] and last.get("comparable"):
        last["comparable"] = False
        last["not_comparable_reason"] = (
            f"it ran on {mine}, the baseline on {tagged[-1]}: re-measure the baseline on {mine} "
            "(a separate night per device type) before comparing"
        )


def _stop(ray, submission: str) -> None:
    try:
        ray.stop_job(submission)
    except Exception:  # noqa: BLE001 - already finished, or the cluster is gone: the poll decides
        pass


def _unscored(cfg, ray, submission, plan, status, stopped, started_at, wall) -> dict:
    """The run of a Ray job that ended without the worker's result line."""
    try:
        info = ray.get_job_info(submission)
        error_type, message = str(info.error_type or ""), str(info.message or "")
    except Exception:  # noqa: BLE001
        error_type, message = "", "the cluster no longer answers"
    first = (message.strip().splitlines() or [""])[0][:200]
    if stopped:
        outcome, reason = oc.TIMEOUT, f"stopped through Ray: {stopped}"
    elif _name(status) == "UNREACHABLE" or error_type in LOST_ERROR_TYPES or "died" in message.lower():
        outcome = oc.LOST
        reason = f"the Ray job was lost ({error_type or _name(status)}: {first}): resubmit it"
    else:
        outcome = oc.CRASH
        reason = f"the Ray job ended {_name(status)} without a result ({error_type}: {first})"
    return {
        "commit": plan["head"],
        "base_commit": plan["base"],
        "outcome": outcome,
        "reason": reason,
        "val_bpb": None,
        "reported_val_bpb": None,
        "attested": False,
        "attestation": None,
        "memory_gb": 0.0,
        "started_at": started_at,
        "finished_at": state.now_iso(),
        "wall_seconds": round(wall, 2),
        "exit_code": None,
        "comparable": False,
        "not_comparable_reason": None,
        "recorded": False,
        "replicates": [],
        "runs": [],
        "summary": None,
        "subject": plan["subject"],
    }


def _bring_back_model(cfg, commit: str, logs: _LogCopy, last: dict) -> None:
    """The kept-worthy model came back in the log: write it where a local run leaves it."""
    if not logs.chunks or not logs.meta:
        return
    data = base64.b64decode("".join(logs.chunks))
    if attest.sha256_bytes(data) != logs.meta.get("sha256"):
        last["notes_model"] = "the model sent back by the worker did not match its hash: not kept"
        return
    target = attest.artifact_path(cfg, commit)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    meta = logs.meta.get("json")
    if meta is not None:
        Path(str(target) + ".json").write_text(meta, encoding="utf-8")


def print_result(cfg, last: dict, artifact: Path | None) -> None:
    """The worker's end: the run as one marked line, then the model as marked base64 lines when small."""
    import sys

    if artifact is not None and artifact.is_file():
        data = artifact.read_bytes()
        if len(data) <= ARTIFACT_LIMIT_BYTES:
            text = base64.b64encode(data).decode("ascii")
            for i in range(0, len(text), ARTIFACT_CHUNK):
                sys.stdout.write(ARTIFACT_MARK + text[i : i + ARTIFACT_CHUNK] + "\n")
            side = Path(str(artifact) + ".json")
            meta = {"sha256": attest.sha256_bytes(data), "json": side.read_text() if side.is_file() else None}
            sys.stdout.write(ARTIFACT_META_MARK + json.dumps(meta) + "\n")
        else:
            last["model_not_returned"] = (
                f"the model is {len(data) // 2**20} MB, above {ARTIFACT_LIMIT_BYTES // 2**20} MB: it stayed "
                "on the worker, so the morning report cannot score it on the held-out split"
            )
    sys.stdout.write(RESULT_MARK + json.dumps(last, default=str) + "\n")
    sys.stdout.flush()
