"""The hooks' side of a Ray night inside Claude Code: held jobs start here, outside the sandbox.

Inside Claude Code's sandbox a Bash call has no network (docs/ray.md, measured) and its processes end with
it, so a Ray job's supervisor cannot live there. Hooks run outside the sandbox: after every tool call
(PostToolUse) and at session start, `hook_start` starts the supervisor of every held job, detached, with the
project environment's interpreter. The supervisor then talks to the cluster, heartbeats into the job's record,
and outlives the call; the agent's `wait`, inside the sandbox, only reads records.

What runs out here is fixed by walled files only: the CLI (`scripts/`), this library, and the interpreter of
the read-only environment (`Config.environment_paths`). From the agent-writable record it takes nothing but
a checked id and commit (`jobs.checked`). Stdlib only; on a night that is not a Ray night the hook's cost
is one read of pyproject.toml (`may_name_ray`).
"""

from __future__ import annotations

import os

HELD_SUFFIX = ".held"  # jobs/<id>.held beside a held job's record: the hooks' cheap look, no JSON parsed
HOOKS_START_NOTE = "a Ray job starts when this Bash call ends, outside the sandbox (the hooks start it)"


def held_waiting(root: str, state_dir: str) -> bool:
    try:
        names = os.listdir(os.path.join(root, state_dir, "jobs"))
    except OSError:
        return False
    return any(name.endswith(HELD_SUFFIX) for name in names)


def may_name_ray(pyproject: bytes) -> bool:
    """Could this pyproject.toml set `backend = "ray"`? A look at the bytes, so that the hook after every
    call loads the config only for a Ray night; the config decides. No TOML spelling of that key (bare,
    quoted, dotted, inline table, any string quotes) gets a no; other keys ending in `backend` get a yes."""
    at = pyproject.find(b"backend")
    while at >= 0:
        rest = pyproject[at + len(b"backend") :].lstrip(b" \t\"'")
        if rest.startswith(b"="):
            value = rest[1:].split(b"\n", 1)[0]
            for stop in (b"#", b",", b"}"):
                value = value.split(stop, 1)[0]
            if value.strip().strip(b"\"'") == b"ray":
                return True
        at = pyproject.find(b"backend", at + 1)
    return False


def hook_start(root: str) -> str:
    """Start the held jobs of a Ray night; '' when there were none, else one line of what could not start."""
    try:
        with open(os.path.join(root, "pyproject.toml"), "rb") as fh:
            if not may_name_ray(fh.read()):
                return ""
    except OSError:
        return ""  # no pyproject.toml: the defaults, a local night
    from . import configcache

    cached = configcache.load_config(root)
    if cached.jobs_backend != "ray" or not held_waiting(root, cached.state_dir):
        return ""
    from . import config

    _, problems = start_held(config.load(root))
    return " ".join(problems)


def start_held(cfg) -> tuple[list[str], list[str]]:
    """Start every held job's supervisor from here; returns (started ids, one line per job that could not)."""
    from . import jobs

    if cfg.jobs.backend != "ray":
        return [], []
    markers = sorted(jobs.jobs_dir(cfg).glob("*" + HELD_SUFFIX))
    python = jobs.project_python(cfg)
    started, problems = [], []
    for marker in markers:
        job_id = marker.name[: -len(HELD_SUFFIX)]
        try:
            job = jobs.checked(cfg, jobs.load(cfg, job_id), job_id)
            if job.state != "held":
                marker.unlink(missing_ok=True)
                continue
            if not python.is_file():
                raise jobs.JobError(
                    f"no project environment at {python.parent.parent}: run `uv sync --extra ray`, then "
                    f"`submit --hold {job.commit[:7]}`"
                )
            jobs.start(cfg, job, str(python), isolated=True)
            started.append(job_id)
        except (jobs.JobError, OSError) as exc:
            marker.unlink(missing_ok=True)
            problems.append(f"job {job_id} could not start: {exc}")
            jobs.fail_held(cfg, job_id, str(exc))
    return started, problems
