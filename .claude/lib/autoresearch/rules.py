"""The guard's seven rules. This is the file to audit: everything else only says what a call would do.

    effects = reader.read_call(payload, targets)   # typed records, see effects.py
    denial = rules.judge(effects, targets, cfg)     # None, or (rule id, one sentence)

Each rule is one short function over the effects of one tool call. It returns the sentence that denies
the call (the rule id, what is wrong, the allowed way) or None. `judge` asks the enabled rules in the
order of RULES; the first sentence wins. A rule denies what the reader positively recognises. Part of
a call the reader cannot follow (`Opaque`) counts only when its text names a guarded file, and never as
a write to a file the OS sandbox already walls off (`t.is_walled`, docs/guards.md "The wall") or that the
keeper puts back after the call (`t.is_kept`: the ledger and the memory): those mechanisms hold whatever
the text hides, so the guide need not guess. No honest call may match a rule.
"""

from __future__ import annotations

from .effects import (
    APPEND,
    CAN_ANY,
    CAN_READ,
    CAN_WRITE,
    DELETE,
    MEMORY_CLI,
    RUNNER_SCRIPT,
    WHOLE,
    Clean,
    HooksOff,
    Install,
    Opaque,
    Read,
    SetEnv,
    Stage,
    Train,
    Unignore,
    Write,
    touches,
    under,
)

NOTE_ISSUE = f'`uv run {MEMORY_CLI} add --kind issue --title "..." --text "..."`'
RECORD = f'`uv run {RUNNER_SCRIPT} record keep|discard|crash "..."`'


def protected_files(effects, t):
    """The fixed harness (prepare.py) is never written, by any route."""
    for e in effects:
        for p in t.protected:
            if isinstance(e, Write) and touches(e.path, p, e.recursive) or _hides_a_write(e, p, t):
                return _hidden("protected-files", e) or (
                    f"protected-files: {t.rel(p)} is the fixed harness and is never written; "
                    f"read it freely and make every change in {t.rel(t.train)}."
                )
    return None


def no_installs(effects, t):
    """The environment is pinned by pyproject.toml and uv.lock: nothing installs or re-resolves."""
    for e in effects:
        what = e.what if isinstance(e, Install) else None
        if isinstance(e, Write):
            for g in t.lock_files + [p for p in t.pyproject if e.dependency_edit]:
                if touches(e.path, g, e.recursive):
                    what = f"changing {t.rel(g)}"
        if what:
            return (
                f"no-installs: {what} is not allowed because the environment is pinned by pyproject.toml "
                f"and uv.lock; use the installed packages (`uv sync`, `uv run ...`) and note a missing one "
                f"with {NOTE_ISSUE}."
            )
    return None


def guard_integrity(effects, t):
    """The guardrails (settings, hooks, their library, the skill, the project files) change only by hand."""
    for e in effects:
        if isinstance(e, HooksOff):
            return (
                "guard-integrity: disableAllHooks would switch the guardrails off and only a human may "
                "set it; carry on within the rules."
            )
        for g in t.guard:
            if isinstance(e, Write) and touches(e.path, g, e.recursive) or _hides_a_write(e, g, t):
                return _hidden("guard-integrity", e) or (
                    f"guard-integrity: {t.rel(g)} is part of the guardrails and only a human edits it; "
                    f"keep your changes in {t.rel(t.train)} and note a needed change with {NOTE_ISSUE}."
                )
    return None


def redirect_training(effects, t):
    """Training writes its output to a file, under the fixed time budget."""
    for e in effects:
        if isinstance(e, Train) and (e.stdout != "file" or e.stderr != "file"):
            stream, dest = ("stdout", e.stdout) if e.stdout != "file" else ("stderr", e.stderr)
            where = {"pipe": "a pipe", "tty": "your context", "capture": "a $(...) capture"}.get(
                dest, "nowhere"
            )
            where = "/dev/null, losing the metric" if dest == "null" else where
            return (
                f"redirect-training: {t.rel(t.train)} sends its {stream} to {where}; run "
                f"`uv run {RUNNER_SCRIPT} run` (it writes {t.rel(t.log)} and prints a short verdict) or "
                f"`uv run {t.rel(t.train)} > {t.rel(t.log)} 2>&1`, "
                f'then `grep "^{t.cfg.metric}:" {t.rel(t.log)}`.'
            )
        if isinstance(e, SetEnv) and e.name == t.time_budget_env or _hides(e, t.time_budget_env, CAN_ANY):
            return _hidden("redirect-training", e) or (
                f"redirect-training: {t.time_budget_env} is a test-only override that makes runs "
                f"incomparable; run with the fixed budget via `uv run {RUNNER_SCRIPT} run`."
            )
    return None


def results_untracked(effects, t):
    """The night's data stays out of git, so `git reset` can never take it away."""
    for e in effects:
        if isinstance(e, (Stage, Unignore)):
            return (
                f"results-untracked: {t.rel(e.path)} must stay untracked so `git reset` never loses it; "
                f"stage files by name, e.g. `git add {t.rel(t.train)}`, and record results with {RECORD}."
            )
    return None


def keep_untracked_data(effects, t):
    """The ledger is append-only; the runner's state and the memory change only through their CLIs."""
    ledger_writes = [e for e in effects if isinstance(e, Write) and touches(e.path, t.results, e.recursive)]
    if any(e.header_only for e in ledger_writes) and len(ledger_writes) > 1:
        return _data_reason(
            t, t.results
        )  # the seed's header is safe only alone: `echo row >> f; echo hdr > f`
    for e in effects:
        if isinstance(e, Clean):
            return (
                f"keep-untracked-data: this {e.how} would delete {e.what}; use `git reset --hard HEAD~1` "
                f"to drop a commit, or `git clean -n` to preview."
            )
        for d in (t.state, t.memory, t.results):
            if _hides(e, d, CAN_ANY) or _hides(e, d, CAN_WRITE) and not t.is_kept(d):
                return _hidden("keep-untracked-data", e)  # a hidden write the keeper undoes is let through
        if not isinstance(e, Write):
            continue
        for d in (t.state, t.memory):
            if touches(e.path, d, e.recursive):
                return _data_reason(t, e.path if under(e.path, d) else d)
        appends_a_row = e.kind == APPEND and e.path == t.results
        if e in ledger_writes and not (appends_a_row or e.header_only):
            return _data_reason(t, t.results)
        if e.kind == DELETE and touches(e.path, t.log, e.recursive):
            return _data_reason(t, t.log, "deleted")
    return None


def log_flood(effects, t):
    """run.log reaches the agent's context only in pieces of at most tail_lines lines."""
    for e in effects:
        if (
            isinstance(e, Read)
            and e.path == t.log
            and e.extent == WHOLE
            or _hides(e, t.log, CAN_READ, CAN_ANY)
        ):
            lead = "log-flood: " if isinstance(e, Opaque) else f"log-flood: {e.how}; "
            return _hidden("log-flood", e) or (
                f"{lead}{t.rel(t.log)} may only be read in pieces of at most {t.cfg.tail_lines} lines; use "
                f'`grep "^{t.cfg.metric}:\\|^peak_vram_mb:" {t.rel(t.log)}` or '
                f"`tail -n {t.cfg.tail_lines} {t.rel(t.log)}`."
            )
    return None


# Priority order: when one call breaks several rules, the first enabled one explains it.
RULES = {
    "protected-files": protected_files,
    "no-installs": no_installs,
    "guard-integrity": guard_integrity,
    "redirect-training": redirect_training,
    "results-untracked": results_untracked,
    "keep-untracked-data": keep_untracked_data,
    "log-flood": log_flood,
}


def judge(effects, t, cfg):
    """(rule id, reason) of the first enabled rule the effects break, else None."""
    for rule_id, rule in RULES.items():
        if cfg.rule_enabled(rule_id):
            reason = rule(effects, t)
            if reason:
                return rule_id, reason
    return None


# -- wording shared by several rules


def _hides(e, target, *can):
    """Is `e` a part of the call the reader cannot follow that names `target` and can do one of `can`?"""
    return isinstance(e, Opaque) and e.target == target and e.can in can


def _hides_a_write(e, target, t):
    """A hidden write to `target` that the sandbox does not already stop."""
    return _hides(e, target, CAN_WRITE, CAN_ANY) and not t.is_walled(target)


def _hidden(rule_id, e):
    if not isinstance(e, Opaque):
        return None
    if e.unreadable:
        return (
            f"{rule_id}: the guard cannot read this command ({e.why}) and it names {e.label}; "
            f"write it in plain shell."
        )
    return (
        f"{rule_id}: this command hides what it runs ({e.why}) and names {e.label}; "
        f"write the command out plainly so the guard can read it."
    )


def _data_reason(t, path, what="changed or deleted"):
    if under(path, t.memory):
        return (
            f"keep-untracked-data: memory files are written only through "
            f'`uv run {MEMORY_CLI} add --kind learning|issue|decision --title "..." --text "..."`; '
            f"reading them is fine."
        )
    if under(path, t.state):
        return (
            f"keep-untracked-data: {t.rel(t.state)}/ belongs to the experiment runner and must not be "
            f"{what}; use `uv run {RUNNER_SCRIPT} status|run|record` instead."
        )
    if under(path, t.results):
        return (
            f"keep-untracked-data: {t.rel(t.results)} is append-only and must survive the night; add rows "
            f'with {RECORD} or `echo -e "..." >> {t.rel(t.results)}`.'
        )
    return (
        f"keep-untracked-data: {t.rel(path)} holds the night's untracked data and must not be {what}; "
        f"leave it in place (`git reset --hard HEAD~1` keeps it)."
    )
