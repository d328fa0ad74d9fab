"""The loop's state file, `.autoresearch/state.json` (untracked): what setup decided and what is running.

Stdlib only (the Stop, SessionStart and PreCompact hooks read it). `load` never raises; `save` is atomic.

Schema (version 1; readers must tolerate extra keys):
    version           1
    tag, branch       "nov25", "autoresearch/nov25"
    baseline_commit   40-hex commit the night started from
    incumbent_commit  40-hex commit of the current best keep (discards reset to it)
    created_at        ISO-8601 UTC
    protected_hashes  {relpath: sha256 hex}  (protected files + guard config, taken at setup)
    baseline_repeats  N runs of the unmodified baseline that measure the noise
    in_flight         null | {pid, pgid, runner_pid, commit, base_commit, started_at, log}
    last_run          null | {commit, base_commit, outcome, val_bpb, memory_gb, finished_at, comparable,
                              recorded, replicates: [val_bpb, ...], suggestion, next, ...}
    noise             {sigma, n, source}   n = runs the estimate rests on; source baseline|pooled|fallback
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

from . import fsutil, procs

UTC = timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+; hooks may run an older python3

VERSION = 1


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def seconds_since(text: str | None) -> float | None:
    start = parse_iso(text)
    return None if start is None else (datetime.now(UTC) - start).total_seconds()


def new_state(
    tag: str,
    branch: str,
    baseline_commit: str,
    protected_hashes: dict,
    baseline_repeats: int,
    fallback_sigma: float,
) -> dict:
    return {
        "version": VERSION,
        "tag": tag,
        "branch": branch,
        "baseline_commit": baseline_commit,
        "incumbent_commit": baseline_commit,
        "created_at": now_iso(),
        "protected_hashes": dict(protected_hashes),
        "baseline_repeats": int(baseline_repeats),
        "in_flight": None,
        "last_run": None,
        "noise": {"sigma": float(fallback_sigma), "n": 0, "source": "fallback"},
    }


def read(cfg) -> tuple[dict | None, str | None]:
    """(state, None), (None, None) when there is no state file, or (None, one-line error) when malformed."""
    path = cfg.state_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"{path} is not valid JSON ({exc}); move it away and run setup again"
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None, f"{path} is not a version-{VERSION} state object; move it away and run setup again"
    return data, None


def load(cfg) -> dict | None:
    """The state, or None when it is missing or malformed (`read(cfg)[1]` says why). Never raises."""
    try:
        return read(cfg)[0]
    except Exception:  # noqa: BLE001 - hooks must never crash on a strange file
        return None


def error(cfg) -> str | None:
    """Why `load` returned None for an existing file (None when the file is fine or absent)."""
    try:
        return read(cfg)[1]
    except Exception as exc:  # noqa: BLE001
        return str(exc)


def save(cfg, data: dict) -> None:
    """Write atomically (fsync, then os.replace): a reader never sees half a state."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    fsutil.atomic_write(cfg.state_file, text.encode("utf-8"))


STALE_SECONDS = 30.0  # a job whose supervisor has not touched its record for this long is gone


def flight_alive(cfg, flight: dict) -> bool:
    """Whether the run in flight still has a live supervisor: the job's heartbeat when it has one (a pid from
    another pid namespace, e.g. an earlier sandboxed Bash call, means nothing here), else its runner's pid."""
    job = flight.get("job")
    if isinstance(job, str) and job:
        try:
            with open(cfg.jobs_dir / f"{job}.json", encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            return False
        if record.get("state") == "done":
            return False
        beat = record.get("heartbeat")
        if not isinstance(beat, (int, float)) or time.time() - beat >= STALE_SECONDS:
            return False
        if flight.get("pid_ns") != procs.namespace_id():
            return True  # its pid means nothing here: the heartbeat is the only witness
    return pid_alive(flight.get("runner_pid") or flight.get("pid"))


def pid_alive(pid) -> bool:
    """True when a process with this pid exists and is not a zombie."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not procs.is_own():  # no /proc (macOS), or an outer namespace's (a sandbox): translate
        table = procs.table()
        return True if table is None else (pid in table and not table[pid].zombie)
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return True
