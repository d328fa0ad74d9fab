"""Where the night stands, from state.json + results.tsv + runs.jsonl. Stdlib only: SessionStart prints it.

`collect(cfg)` is the one computation of baseline, best, counts, noise and the next step; the runner's
verdict and `experiment.py status` both use it.
"""

from __future__ import annotations

import math

from . import gitutil, ledger, noise, state

LAST_ROWS = 5
CLI = "uv run scripts/experiment.py"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _fmt(value, digits: int = 6) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pending_values(st: dict | None) -> tuple[str | None, list[float]]:
    """The unrecorded run's commit and its ok, comparable replicate values."""
    last = (st or {}).get("last_run") or None
    if not last or last.get("recorded") or last.get("outcome") != "ok" or not last.get("comparable"):
        return None, []
    values = [v for v in last.get("replicates") or [] if isinstance(v, (int, float)) and math.isfinite(v)]
    return last.get("commit"), values


def provenance(rows, records: list[dict]) -> dict[int, str]:
    """row line -> "attested" (the runner scored it), "runner" (recorded with attestation off) or "hand".

    A row is the runner's when a sidecar record written by `record` names its line, commit and status.
    Rows appended by hand (`echo >> results.tsv`) have none: they are shown but never become the best."""
    by_line = {}
    for rec in records:
        line = rec.get("row_line")
        if isinstance(line, int) and rec.get("status"):
            by_line[line] = rec
    out = {}
    for row in rows:
        rec = by_line.get(row.line_no)
        if not rec or str(rec.get("commit") or "")[:7] != row.commit[:7] or rec.get("status") != row.status:
            out[row.line_no] = "hand"
        else:
            out[row.line_no] = "attested" if rec.get("attested") else "runner"
    return out


def collect(cfg) -> dict:
    """Everything status and the verdict need, as plain data. Never raises on bad files: errors are fields."""
    st, state_error = state.read(cfg)
    try:
        rows, ledger_error = ledger.read_rows(cfg.results_path), None
    except ledger.LedgerError as exc:
        rows, ledger_error = [], str(exc)
    records = ledger.read_records(cfg.sidecar_path)
    origin = provenance(rows, records)
    hand_rows = [r for r in rows if origin.get(r.line_no) == "hand"]
    scored = [r for r in rows if origin.get(r.line_no) != "hand"]  # the noise rule never sees hand rows
    groups = {}
    for commit, values in noise.run_values(records).items():
        groups.setdefault(commit[:7], []).extend(values)
    pend_commit, pend_values = pending_values(st)
    all_groups = {k: list(v) for k, v in groups.items()}
    if pend_commit and pend_values:
        all_groups.setdefault(pend_commit[:7], []).extend(pend_values)
    from . import jobs  # lazily: dataclasses costs the hooks that never look at jobs

    every_job = jobs.all_jobs(cfg)
    waiting = jobs.unrecorded(cfg, every_job)
    for job in waiting:  # finished beside the checkout, not recorded yet
        if job.run.get("outcome") == "ok" and job.run.get("comparable"):
            all_groups.setdefault(job.commit[:7], []).extend(job.run.get("replicates") or [])

    baseline7 = (st or {}).get("baseline_commit", "")[:7] or None
    fallback = cfg.noise.fallback_sigma
    est = noise.estimate(all_groups, baseline7, fallback)

    # best = the best mean over kept commits (a commit kept from several runs is their mean)
    keep_vals: dict[str, list[float]] = {}
    for row in scored:
        if row.status == "keep":
            keep_vals.setdefault(row.commit[:7], []).append(row.val_bpb)
    best = None
    for commit, vals in keep_vals.items():
        mean = sum(vals) / len(vals)
        better = best is None or (
            mean < best["val_bpb"] if cfg.metric_direction == "lower" else mean > best["val_bpb"]
        )
        if better:
            desc = next(
                r.description for r in reversed(scored) if r.commit[:7] == commit and r.status == "keep"
            )
            best = {
                "commit": commit,
                "val_bpb": mean,
                "n": max(len(groups.get(commit, [])), len(vals)),
                "description": desc,
            }

    baseline = None
    if baseline7:
        base_rows = [r.val_bpb for r in scored if r.commit[:7] == baseline7 and r.status == "keep"]
        runs = all_groups.get(baseline7, [])
        if base_rows or runs:
            value = sum(runs) / len(runs) if runs else sum(base_rows) / len(base_rows)
            baseline = {"commit": baseline7, "val_bpb": value, "runs": len(runs)}
    baseline_runs = len(all_groups.get(baseline7, [])) if baseline7 else 0

    counts = {s: sum(1 for r in rows if r.status == s) for s in ledger.STATUSES}
    elapsed = state.seconds_since((st or {}).get("created_at"))
    per_hour = len(rows) / (elapsed / 3600.0) if elapsed and elapsed > 60 and rows else 0.0

    in_flight = None
    flight = (st or {}).get("in_flight")
    if isinstance(flight, dict):
        runner_alive = state.flight_alive(cfg, flight)
        in_flight = {
            "commit": (flight.get("commit") or "")[:7],
            "pid": flight.get("pid"),
            "seconds": state.seconds_since(flight.get("started_at")),
            "alive": runner_alive,
        }

    thr, _ = noise.threshold(cfg, est["sigma"], 1, best["n"] if best else 1)
    info = {
        "state_error": state_error,
        "ledger_error": ledger_error,
        "set_up": st is not None,
        "tag": (st or {}).get("tag"),
        "branch": (st or {}).get("branch"),
        "current_branch": gitutil.current_branch(cfg.root),
        "head": (gitutil.head_commit(cfg.root) or "")[:7] or None,
        "baseline": baseline,
        "baseline_runs": baseline_runs,
        "baseline_repeats": int((st or {}).get("baseline_repeats") or cfg.noise.baseline_repeats),
        "best": best,
        "counts": counts,
        "experiments": len(rows),
        "hand_rows": len(hand_rows),
        "elapsed_seconds": elapsed,
        "experiments_per_hour": round(per_hour, 2),
        "last_rows": [
            {
                "commit": r.commit,
                "val_bpb": r.val_bpb,
                "memory_gb": r.memory_gb,
                "status": r.status,
                "description": r.description,
                "provenance": origin.get(r.line_no, "hand"),
            }
            for r in rows[-LAST_ROWS:]
        ],
        "in_flight": in_flight,
        "workers": jobs.worker_count(cfg) if st is not None else 1,
        "jobs": [_job_line(j) for j in every_job if j.alive()],
        "held_jobs": [_job_line(j) for j in every_job if j.state == "held"],
        "unrecorded_jobs": [_job_line(j) for j in waiting],
        "lost_jobs": [_job_line(j) for j in _lost(every_job)],
        "last_run": (st or {}).get("last_run"),
        "noise": {**est, "threshold": thr, "min_delta": cfg.noise.min_delta, "k": cfg.noise.sigma_multiplier},
        "stop_requested": cfg.stop_sentinel.exists(),
    }
    info["next"] = next_step(cfg, info)
    return info


def _lost(every_job) -> list:
    """Jobs lost on a cluster whose commit has not been submitted again since: they need a resubmit."""
    lost = [j for j in every_job if j.state == "done" and (j.run or {}).get("outcome") == "lost"]
    later = {(j.commit, j.submitted_at) for j in every_job}
    return [j for j in lost if not any(c == j.commit and t > j.submitted_at for c, t in later)]


def _job_line(job) -> dict:
    """A job as status shows it: what the agent needs to wait for it or record it."""
    run = job.run or {}
    return {
        "id": job.id,
        "commit": job.commit[:7],
        "state": job.state,
        "device": job.device,
        "seconds": state.seconds_since(job.started_at),
        "outcome": run.get("outcome"),
        "val_bpb": run.get("val_bpb"),
        "suggestion": run.get("suggestion"),
        "next": run.get("next"),
    }


def next_step(cfg, info: dict) -> str:
    """One imperative sentence: what the agent should do now."""
    if info["state_error"]:
        return info["state_error"]
    if not info["set_up"]:
        return f"set up the night: {CLI} setup"
    if info["ledger_error"]:
        return f"fix results.tsv first: {info['ledger_error']}"
    if cfg.record_intent_path.exists():
        return f"a record was interrupted: `{CLI} status` completes it (exactly one row)"
    waiting = info.get("unrecorded_jobs") or []
    lost = info.get("lost_jobs") or []
    if lost and not waiting:
        commit = lost[0]["commit"]
        return lost[0]["next"] or f"resubmit the lost job of {commit}: {CLI} submit --hold {commit}"
    if waiting:
        return waiting[0]["next"] or f'{CLI} record --job {waiting[0]["id"]} keep|discard|crash "<idea>"'
    running, held = info.get("jobs") or [], info.get("held_jobs") or []
    if held:
        free = info.get("workers", 1) - len(held) - len(running)
        if free > 0:
            return (
                f"{len(held)} job(s) held, {free} worker(s) still free: commit another one-idea change off "
                f"the best and `{CLI} submit --hold` it, or `{CLI} wait` to start them"
            )
        return f"{len(held)} job(s) held: `{CLI} wait` starts them and waits (Bash timeout 600000 ms)"
    if running and info.get("workers", 1) > 1:
        idle = info["workers"] - len(running)
        if idle > 0:
            return (
                f"{idle} of {info['workers']} workers idle while {len(running)} job(s) run: commit the next "
                f"one-idea change off the best, `{CLI} submit --hold` it, then `{CLI} wait`"
            )
        return f"all {info['workers']} workers busy: `{CLI} wait --any`, then record what finished"
    flight = info["in_flight"]
    if flight and flight["alive"]:
        return f"wait: a run of {flight['commit']} is in flight for {_fmt_duration(flight['seconds'])}"
    if flight and not flight["alive"]:
        return f"a run was interrupted (runner gone); start again with: {CLI} run"
    last = info["last_run"] or {}
    if last and not last.get("recorded") and last.get("next"):
        return last["next"]
    if info["baseline_runs"] < info["baseline_repeats"] and info["head"] == (info["baseline"] or {}).get(
        "commit", info["head"]
    ):
        done = info["baseline_runs"]
        return f"baseline {done}/{info['baseline_repeats']} measured: run the unmodified baseline: {CLI} run"
    if info.get("workers", 1) > 1:
        n = info["workers"]
        return (
            f"all {n} workers idle: start a wave: {n - 1} one-idea commit(s) off the best, each held with "
            f"`{CLI} submit --hold`, the best itself with `{CLI} submit --hold <best>`, then `{CLI} wait`"
        )
    return f'next experiment: edit train.py, git add train.py && git commit -m "<idea>", then {CLI} run'


def status_dict(cfg) -> dict:
    return collect(cfg)


def status_text(cfg, info: dict | None = None) -> str:
    """A short, grep-friendly summary: one `key: value` line per fact."""
    info = info or collect(cfg)
    if not info["set_up"]:
        lines = ["autoresearch: not set up"]
        if info["state_error"]:
            lines.append(f"error: {info['state_error']}")
        lines.append(f"next: {info['next']}")
        return "\n".join(lines)
    lines = [
        f"autoresearch: tag {info['tag']} | branch {info['branch']} | "
        f"on {info['current_branch'] or 'detached'}"
        f" @ {info['head'] or '?'}"
    ]
    if info["ledger_error"]:
        lines.append(f"error: {info['ledger_error']}")
    base = info["baseline"]
    lines.append(
        f"baseline: {_fmt(base['val_bpb'])} ({base['commit']}, "
        f"{info['baseline_runs']}/{info['baseline_repeats']} runs)"
        if base
        else f"baseline: not measured yet (0/{info['baseline_repeats']} runs)"
    )
    best = info["best"]
    if best:
        lines.append(
            f"best: {_fmt(best['val_bpb'])} ({best['commit']}) {best['description']}"
            + (f" | vs baseline {round(best['val_bpb'], 6) - round(base['val_bpb'], 6):+.6f}" if base else "")
        )
    c = info["counts"]
    lines.append(
        f"runs: {info['experiments']} (keep {c['keep']}, discard {c['discard']}, crash {c['crash']})"
        f" | {info['experiments_per_hour']:.1f}/h over {_fmt_duration(info['elapsed_seconds'])}"
    )
    nz = info["noise"]
    lines.append(
        f"noise: sigma {nz['sigma']:.6f} ({nz['source']}, n={nz['n']}) | keep threshold {nz['threshold']:.6f}"
        f" = max(min_delta {nz['min_delta']}, {nz['k']} x sigma_diff)"
    )
    flight = info["in_flight"]
    if flight:
        state_word = "running" if flight["alive"] else "interrupted (runner gone)"
        lines.append(
            f"in-flight: {flight['commit']} {state_word} for {_fmt_duration(flight['seconds'])} "
            f"(pid {flight['pid']})"
        )
    elif not info.get("jobs"):
        lines.append("in-flight: none")
    for job in info.get("jobs") or []:
        lines.append(
            f"job: {job['id']} {job['commit']} {job['state']}"
            + (f" on {job['device']}" if job["device"] else "")
            + (f" for {_fmt_duration(job['seconds'])}" if job["seconds"] is not None else "")
        )
    for job in info.get("lost_jobs") or []:
        lines.append(f"lost: {job['id']} {job['commit']} (its Ray node or job died): resubmit it")
    for job in info.get("held_jobs") or []:
        lines.append(f"held: {job['id']} {job['commit']} (the next `wait` starts it)")
    for job in info.get("unrecorded_jobs") or []:
        value = f" {job['val_bpb']:.6f}" if isinstance(job["val_bpb"], (int, float)) else ""
        lines.append(
            f"to record: {job['id']} {job['commit']} {job['outcome']}{value} suggest {job['suggestion']}"
        )
    if info.get("workers", 1) > 1:
        lines.append(f"workers: {len(info.get('jobs') or [])} of {info['workers']} busy")
    if info.get("hand_rows"):
        lines.append(
            f"unattested: {info['hand_rows']} row(s) written by hand, not by `record`: never the best "
            f"(run experiments with {CLI} run, then record)"
        )
    for row in info["last_rows"]:
        mark = "" if row.get("provenance") == "attested" else "\t[unattested]"
        lines.append(
            f"row: {row['commit']}\t{row['val_bpb']:.6f}\t{row['status']}\t{row['description']}{mark}"
        )
    if info["stop_requested"]:
        lines.append(f"stop: {cfg.stop_sentinel.name} sentinel present (the human asked the loop to stop)")
    lines.append(f"next: {info['next']}")
    return "\n".join(lines)
