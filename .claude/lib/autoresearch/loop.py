"""Loop control for the Stop, SessionStart and PreCompact hooks: keep going, remember, snapshot.

Stdlib only (the hooks run under `python3 -I -S`). The hook entry points in .claude/hooks/ only call the
three `*_hook` functions below; everything they decide is here, on top of the runner's modules:
`state` (the state file), `status.collect` (baseline, best, in-flight run, the next step), `ledger`
(results.tsv) and `gitutil.current_branch`. Documented in docs/loop-hooks.md.

    stop_hook          block the stop (exit 0 + {"decision":"block","reason":...}) while a run is active
                       on this branch; allow it on the STOP sentinel or a met budget once no run is
                       pending, or after SPIN_CAP blocks in a row without progress. Outside an active
                       run: no output at all.
    session_start_hook {"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":...}}:
                       status + memory digest + the next step, at most CONTEXT_MAX_CHARS characters.
    Stop and SessionStart first run the keeper's full check (autoresearch.keeper): damaged data is put back
    and the sentence saying so leads the block reason or the context. SessionStart then starts a Ray
    night's held jobs (autoresearch.dispatch), as PostToolUse does after every call.
    pre_compact_hook   copies state.json, results.tsv, runs.jsonl and a status.txt into a timestamped
                       folder under cfg.snapshot_dir (newest SNAPSHOT_KEEP kept); never blocks compaction.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

from . import config, fsutil, gitutil, ledger, state, status

SPIN_CAP = 5  # consecutive blocks without progress before the Stop hook lets go (Claude Code's own cap is 8)
COUNTER_FILE = "stop_hook.json"  # in cfg.state_path: the spin counter and the progress fingerprint
CONTEXT_MAX_CHARS = 6000  # SessionStart additionalContext cap (Claude Code's own cap is 10,000)
STATUS_MAX_CHARS = 3200  # share of the context for the status block; the memory digest gets the rest
LINE_MAX_CHARS = 300  # one status line (a long description) is cut to this
SNAPSHOT_KEEP = 20
MAX_STDIN_BYTES = 16 * 1024 * 1024  # larger payloads are treated as malformed
MEMORY_SEARCH = 'uv run .claude/lib/memory/memory_search.py "<topic>"'
CLI = status.CLI
SNAPSHOT_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z(-[a-z]+)?(-\d+)?$")


# --- input ---


def read_payload(stream) -> tuple[dict | None, str | None]:
    """(payload, None) for a JSON object on stdin, else (None, one-line reason). Never raises."""
    try:
        data = stream.read(MAX_STDIN_BYTES + 1)
    except Exception as exc:  # noqa: BLE001 - a closed or broken stdin is just malformed input
        return None, f"cannot read stdin: {exc.__class__.__name__}"
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_STDIN_BYTES:
        return None, f"stdin is larger than {MAX_STDIN_BYTES} bytes"
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, "stdin is not JSON"
    if not isinstance(payload, dict):
        return None, "stdin JSON is not an object"
    return payload, None


def load_config(payload: dict | None):
    """(cfg, None) for the project the hook serves, or (None, one-line error).

    Candidates: the repo around the payload's `cwd` (follows `cd`), then $CLAUDE_PROJECT_DIR (where the
    session started; a `cd /tmp` must not switch the loop off). The first one with a state file wins.
    """
    starts = []
    cwd = (payload or {}).get("cwd")
    if isinstance(cwd, str) and cwd and "\0" not in cwd and os.path.isdir(cwd):
        starts.append(config.find_root(cwd))
    env_root = os.environ.get(config.ROOT_ENV)
    if env_root and "\0" not in env_root and os.path.isdir(env_root):
        starts.append(Path(env_root).resolve())
    if not starts:
        starts.append(config.find_root(os.getcwd()))
    configs, errors = [], []
    for root in dict.fromkeys(starts):
        try:
            configs.append(config.load(root))
        except config.ConfigError as exc:
            errors.append(str(exc))
    for cfg in configs:
        if cfg.state_file.exists():
            return cfg, None
    if configs:
        return configs[0], None
    return None, errors[0] if errors else "no project root found"


# --- the facts the three hooks share ---


def active_state(cfg) -> dict | None:
    """The state when a run is set up for the checked-out branch; None otherwise (also for bad state)."""
    st = state.load(cfg)
    if not st or not isinstance(st.get("tag"), str) or not st.get("tag"):
        return None
    branch = st.get("branch")
    if not isinstance(branch, str) or branch != gitutil.current_branch(cfg.root):
        return None
    return st


def _rows(cfg) -> list:
    try:
        return ledger.read_rows(cfg.results_path)
    except ledger.LedgerError:
        return []  # status.collect reports the error and makes fixing it the next step


def experiments_after_baseline(rows: list, baseline_commit: str | None) -> int:
    """Rows after the first baseline row that are not baseline repeats (all non-baseline rows if none)."""
    base7 = (baseline_commit or "")[:7]
    start = next((i + 1 for i, row in enumerate(rows) if base7 and row.commit[:7] == base7), 0)
    return sum(1 for row in rows[start:] if row.commit[:7] != base7)


def budget_report(cfg, st: dict, info: dict) -> tuple[str | None, str]:
    """(why a budget is met or None, a one-line summary of every configured budget)."""
    limits = cfg.stop
    met, parts = None, []
    if limits.max_experiments > 0:  # the only budget that needs the rows themselves
        done = experiments_after_baseline(_rows(cfg), st.get("baseline_commit"))
        parts.append(f"experiments {done}/{limits.max_experiments}")
        if done >= limits.max_experiments and not met:
            met = f"max_experiments reached ({done} after the baseline, limit {limits.max_experiments})"
    if limits.max_hours > 0:
        elapsed = state.seconds_since(st.get("created_at"))
        hours = None if elapsed is None else elapsed / 3600.0
        parts.append(f"hours {'?' if hours is None else f'{hours:.2f}'}/{limits.max_hours:g}")
        if hours is not None and hours >= limits.max_hours and not met:
            met = f"max_hours reached ({hours:.2f} h since setup >= {limits.max_hours:g} h)"
    if limits.target_metric != 0:
        best = (info.get("best") or {}).get("val_bpb")
        lower = cfg.metric_direction == "lower"
        parts.append(f"target {cfg.metric} {'<=' if lower else '>='} {limits.target_metric:g}")
        target = limits.target_metric
        reached = isinstance(best, (int, float)) and (best <= target if lower else best >= target)
        if reached and not met:
            met = f"target_metric reached (best kept {cfg.metric} {best:.6f}, target {target:g})"
    return met, ("budgets: " + ", ".join(parts)) if parts else "budgets: none configured"


def pending_work(info: dict) -> bool:
    """A live in-flight run, or a finished run not yet recorded: work that would be lost by stopping now."""
    flight = info.get("in_flight") or {}
    last = info.get("last_run") or {}
    jobs_open = bool(info.get("jobs") or info.get("held_jobs") or info.get("unrecorded_jobs"))
    return jobs_open or bool(flight.get("alive")) or bool(last and not last.get("recorded"))


def next_step(cfg, info: dict) -> str:
    """The next concrete step: status's sentence, with the in-flight pid and the memory search added."""
    step = str(info.get("next") or f"{CLI} status")
    flight = info.get("in_flight")
    last = info.get("last_run") or {}
    if info.get("unrecorded_jobs") or (info.get("workers") or 1) > 1 and info.get("jobs"):
        return step  # status names the job to record, the idle workers to fill, or `wait --any`
    if flight and flight.get("alive"):
        return (
            f"{step} (pid {flight.get('pid')}, output in {cfg.log_file}); "
            f"check on it with `sleep 60; {CLI} status` until it finishes, then record it"
        )
    if last and not last.get("recorded") and not last.get("next"):
        verdict = last.get("suggestion") or ("crash" if last.get("outcome") != "ok" else "keep|discard")
        commit = str(last.get("commit") or "?")[:7]
        return f'record the finished run of {commit}: {CLI} record {verdict} "<description>"'
    if flight or (last and not last.get("recorded")) or info.get("state_error") or info.get("ledger_error"):
        return step
    if (info.get("baseline_runs") or 0) < (info.get("baseline_repeats") or 0):
        return step  # the baseline repeats come before any hypothesis
    return f"form the next hypothesis: search memory with `{MEMORY_SEARCH}`, then {step}"


def _info(cfg) -> dict:
    return status.collect(cfg)


# --- Stop ---


def _stat_key(path: Path) -> list:
    try:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [None, None]


def progress_fingerprint(cfg) -> list:
    """What changes when the loop makes progress: ledger, state, sidecar, run log, HEAD, editable files."""
    paths = [cfg.results_path, cfg.state_file, cfg.sidecar_path, cfg.log_path]
    paths += [cfg.root / name for name in cfg.editable_files]
    return [_stat_key(p) for p in paths] + [gitutil.head_commit(cfg.root)]


def _counter_path(cfg) -> Path:
    return cfg.state_path / COUNTER_FILE


def _read_counter(cfg) -> dict:
    try:
        data = json.loads(_counter_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_counter(cfg, fingerprint: list, blocks: int) -> None:
    data = {"fingerprint": fingerprint, "blocks": blocks, "updated_at": state.now_iso()}
    try:
        fsutil.atomic_write(_counter_path(cfg), json.dumps(data).encode("utf-8"))
    except OSError:
        pass  # no counter this time: the next stop counts from zero, which only delays the spin cap


def stop_decision(cfg, payload: dict) -> dict | None:
    """The Stop hook's JSON reply, or None for no output (an ordinary stop)."""
    st = active_state(cfg)
    if st is None:
        return None
    where = f"autoresearch run {st['tag']} on {st['branch']}"
    info = _info(cfg)
    met, budgets = budget_report(cfg, st, info)
    sentinel = f"{cfg.state_dir}/{cfg.stop_sentinel.name}"
    if cfg.stop_sentinel.exists():
        met = f"{sentinel} exists (the human resumes with `{CLI} stop --resume`)"
    if met and not pending_work(info):
        _write_counter(cfg, progress_fingerprint(cfg), 0)
        return {"systemMessage": f"{where}: stop allowed because {met}."}

    fingerprint = progress_fingerprint(cfg)
    counter = _read_counter(cfg)
    same = payload.get("stop_hook_active") is True and counter.get("fingerprint") == fingerprint
    blocks = counter.get("blocks") if same and isinstance(counter.get("blocks"), int) else 0
    if blocks >= SPIN_CAP:
        _write_counter(cfg, fingerprint, blocks)
        return {
            "systemMessage": f"{where}: stop allowed after {blocks} blocked stops in a row without progress "
            f"(no new results.tsv row, state, commit or run output). Resume with: {CLI} status"
        }
    _write_counter(cfg, fingerprint, blocks + 1)

    best, rows_n = info.get("best"), info.get("experiments", 0)
    facts = [
        f"{rows_n} row{'' if rows_n == 1 else 's'} in {cfg.results_file}",
        f"best {cfg.metric} {best['val_bpb']:.6f} ({best['commit']})" if best else "nothing kept yet",
        budgets,
    ]
    lead = ""
    if met:  # a graceful stop: the pending result must land in results.tsv first
        lead = f"Stop requested ({met}), but one step is pending: do it, then stop without a new experiment. "
    reason = (
        f"{lead}The {where} is active ({'; '.join(facts)}). "
        f"Next step: {next_step(cfg, info)}. "
        f"The loop continues until the human raises {sentinel} (`{CLI} stop`, from their own terminal) or a "
        "budget in "
        f"[tool.autoresearch.stop] is met (stop blocked {blocks + 1}/{SPIN_CAP} times without progress)."
    )
    return {"decision": "block", "reason": reason}


def keeper_text(cfg, fresh_session=False) -> str:
    """The keeper's full check (autoresearch.keeper): '' or its sentences about what it restored.

    fresh_session: a new session starts, so what changed in the memory files since the last one is the
    human's curation (docs/memory.md): it is journaled as it is, not put back. The ledger and the state
    stay append-only across sessions too."""
    try:
        from . import keeper

        if fresh_session:
            keeper.accept(cfg=cfg, ways=("memory",))
        return keeper.check(cfg=cfg, full=True).text()
    except Exception as exc:  # noqa: BLE001 - the loop's answer matters more
        return f"autoresearch keeper: check failed ({exc.__class__.__name__})."


def stop_hook(stream) -> str:
    """stdin -> stdout text. Malformed stdin (not a JSON object, or no boolean stop_hook_active): allow.

    The keeper checks the night's data first, so the decision reads the restored files; what it restored
    leads the block reason (or, when the stop is allowed, a systemMessage)."""
    payload, _error = read_payload(stream)
    if payload is None or not isinstance(payload.get("stop_hook_active"), bool):
        return ""
    cfg, _error = load_config(payload)
    if cfg is None:
        return ""
    kept = keeper_text(cfg)
    reply = stop_decision(cfg, payload)
    if kept:
        reply = dict(reply or {})
        key = "reason" if reply.get("decision") == "block" else "systemMessage"
        reply[key] = f"{kept} {reply.get(key, '')}".strip()
    return "" if reply is None else json.dumps(reply)


# --- SessionStart ---


def _clip_lines(text: str, limit: int, line_max: int = LINE_MAX_CHARS) -> str:
    """Cut each line to line_max, then drop lines from the end (keeping a final `next:` line) to fit."""
    lines = [ln if len(ln) <= line_max else ln[: line_max - 3] + "..." for ln in text.splitlines()]
    tail = [ln for ln in lines[-1:] if ln.startswith("next:")]
    body = lines[: len(lines) - len(tail)]
    while body and len("\n".join(body + ["(more lines cut)"] + tail)) > limit:
        body.pop()
    cut = len(body) < len(lines) - len(tail)
    return "\n".join(body + (["(more lines cut)"] if cut else []) + tail)[:limit]


def memory_digest(cfg, max_chars: int) -> str:
    """The memory engineer's digest; a one-line note when the module or the folder is unavailable."""
    if max_chars <= 0:
        return ""
    try:
        from memory import store  # .claude/lib/memory: stdlib only
    except Exception:  # noqa: BLE001 - a missing or broken memory package must not cost the status
        return "(memory digest unavailable: .claude/lib/memory/store.py could not be imported)"[:max_chars]
    try:
        text = store.digest_text(cfg.memory_path, max_chars)
    except Exception as exc:  # noqa: BLE001
        return f"(memory digest unavailable: {exc.__class__.__name__})"[:max_chars]
    return str(text or "(memory is empty)")[:max_chars]


def session_context(cfg, source: str) -> str:
    """additionalContext for SessionStart; one line when no run is active on this branch."""
    st = active_state(cfg)
    if st is None:
        bad = state.error(cfg)
        if bad:
            return f"autoresearch-pack: loop hooks idle; the state file is unreadable: {bad}"
        other = state.load(cfg)
        if other:
            return (
                f"autoresearch-pack: loop hooks idle; run {other.get('tag')} belongs to branch "
                f"{other.get('branch')}, the checked-out branch is "
                f"{gitutil.current_branch(cfg.root) or 'detached'}."
            )
        return f"autoresearch-pack: no experiment loop is set up here ({CLI} setup --tag <tag> starts one)."
    info = _info(cfg)
    met, budgets = budget_report(cfg, st, info)
    head = (
        f"autoresearch-pack context after session {source}: the loop state below is read from "
        f"{cfg.state_dir}/state.json, {cfg.results_file} and {cfg.state_dir}/runs.jsonl (not the transcript)."
    )
    foot = [
        f"{budgets}" + (f" ({met})" if met else ""),
        f"Loop control: the Stop hook keeps this run going; it ends when "
        f"{cfg.state_dir}/{cfg.stop_sentinel.name} exists or a budget is met.",
        f"Next step: {next_step(cfg, info)}",
    ]
    foot_text = _clip_lines("\n".join(foot), 2000, line_max=1000)
    room = CONTEXT_MAX_CHARS - len(head) - len(foot_text) - 40
    status_block = _clip_lines(status.status_text(cfg, info), min(STATUS_MAX_CHARS, room))
    digest_room = room - len(status_block) - len("Memory digest:\n")
    digest = memory_digest(cfg, digest_room)
    parts = [head, status_block] + ([f"Memory digest:\n{digest}"] if digest else []) + [foot_text]
    return "\n\n".join(parts)[:CONTEXT_MAX_CHARS]


def session_start_hook(stream) -> str:
    """stdin -> stdout JSON. Malformed stdin: the same context from $CLAUDE_PROJECT_DIR, source 'unknown'."""
    payload, _error = read_payload(stream)
    source = (payload or {}).get("source")
    source = source if isinstance(source, str) and re.fullmatch(r"[a-z_]{1,20}", source) else "unknown"
    cfg, error = load_config(payload)
    if cfg is None:
        text = f"autoresearch-pack: loop context unavailable ({error})."
    else:
        kept = keeper_text(cfg, fresh_session=source == "startup")  # first: the context sees restored files
        try:  # a Ray night's jobs held when the last session ended start now, outside the sandbox
            from . import dispatch

            problems = dispatch.start_held(cfg)[1]
        except Exception as exc:  # noqa: BLE001 - the context matters more
            problems = [f"held jobs not started ({exc.__class__.__name__}: {exc})"]
        try:
            text = session_context(cfg, source)
        except Exception as exc:  # noqa: BLE001 - a partial failure still gets a minimal context
            text = f"autoresearch-pack: loop context unavailable ({exc.__class__.__name__}); see {CLI} status"
        if kept:
            text = f"{kept}\n\n{text}"
        if problems:
            text = " ".join(problems) + "\n\n" + text
    return json.dumps(minimal_context(text))


def minimal_context(text: str) -> dict:
    context = text[:CONTEXT_MAX_CHARS]
    return {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}}


# --- PreCompact ---


def _complete_lines(path: Path) -> bytes | None:
    """The file's bytes up to its last newline (an append in progress is left out); None when absent."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    end = data.rfind(b"\n") + 1
    return data[:end] if end else data


def snapshot(cfg, trigger: str = "unknown") -> Path | None:
    """Copy state.json, results.tsv, runs.jsonl and status.txt into a new snapshot folder; rotate old ones."""
    sources = {"state.json": cfg.state_file, "results.tsv": cfg.results_path, "runs.jsonl": cfg.sidecar_path}
    if not cfg.state_file.exists() and not cfg.results_path.exists():
        return None
    trigger = trigger if re.fullmatch(r"[a-z]{1,20}", trigger or "") else "unknown"
    stamp = datetime.now(state.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    base = cfg.snapshot_dir
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{stamp}-{trigger}"
    suffix = 1
    while target.exists():
        target = base / f"{stamp}-{trigger}-{suffix}"
        suffix += 1
    tmp = base / f".tmp-{target.name}-{os.getpid()}"
    tmp.mkdir()
    for name, path in sources.items():
        data = path.read_bytes() if name == "state.json" and path.exists() else _complete_lines(path)
        if data is not None:
            (tmp / name).write_bytes(data)
    try:
        (tmp / "status.txt").write_text(status.status_text(cfg) + "\n", encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - the copies matter more than the summary
        (tmp / "status.txt").write_text(f"status unavailable: {exc.__class__.__name__}\n", encoding="utf-8")
    os.replace(tmp, target)
    rotate(base, SNAPSHOT_KEEP)
    return target


def rotate(base: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshot folders (only names this module creates); returns them."""
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and SNAPSHOT_NAME.match(p.name))
    removed = []
    for name in names[: max(0, len(names) - keep)]:
        folder = base / name
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        removed.append(folder)
    return removed


def pre_compact_hook(stream) -> str:
    """Snapshot and print nothing (compaction always proceeds). Malformed stdin: trigger 'unknown'."""
    payload, _error = read_payload(stream)
    trigger = (payload or {}).get("trigger")
    cfg, _error = load_config(payload)
    if cfg is not None:
        snapshot(cfg, trigger if isinstance(trigger, str) else "unknown")
    return ""
