"""The mechanical half of the loop: setup, a supervised run of train.py, and recording its row.

Used by scripts/experiment.py (never by hooks, so it may use psutil and filelock). Every public function
returns plain data; failures the user can fix raise RunnerError with one line that names the fix.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from . import attest, fsutil, gitutil, ledger, logbound, noise, procs, state, status, summary
from . import outcomes as oc
from .config import SUPERVISED_ENV, TIME_BUDGET_ENV

POLL_SECONDS = 0.25  # how often the supervisor reads new log bytes and checks the clock
DESCENDANT_SCAN_SECONDS = 2.0  # how often it remembers train.py's descendants (in case one leaves the group)
EXPLODE_LOSS = 100.0  # a progress loss above this is divergence (upstream's own fast-fail bound)
MAX_PARTIAL_BYTES = 1 << 20  # an unterminated line longer than this is judged anyway
SUMMARY_TAIL_BYTES = 256 * 1024  # the summary block is at the end of the output
FULL_LOGS_KEPT = 50  # complete outputs kept under .autoresearch/logs (the newest)
FAR_ABOVE_BUDGET = 1.5  # training_seconds above this x budget (+30 s) makes a run not comparable
CHECK_TIMEOUT_SECONDS = 120
DEFAULT_TIME_BUDGET = 300
HOOK_MARKER = "# autoresearch-pack pre-commit hook"
OUTCOMES = oc.OUTCOMES
SCORED = (oc.OK, oc.MISMATCH, oc.LEAK)  # outcomes with an attested val_bpb
# What of the config stays on the agent's machine; raybackend ships the rest to a remote worker.
LOCAL_CONFIG = ("root", "results_file", "state_dir", "memory_dir", "disabled_rules", "noise", "stop", "jobs")
CLI = status.CLI

_OOM = re.compile(r"out of memory|OutOfMemoryError|MemoryError|Cannot allocate memory", re.I)
_TRACEBACK = "Traceback (most recent call last):"


class RunnerError(Exception):
    """One line: what is wrong and how to fix it."""


# --- small helpers ---


sha256_file = attest.sha256_file


def check_protected(cfg, st: dict) -> list[str]:
    """One line per protected or guard file that differs from what setup recorded."""
    problems = []
    recorded_all = st.get("protected_hashes") or {}
    for rel in attest.watched_files(cfg):
        if rel not in recorded_all:
            problems.append(f"{rel} appeared since setup")
    for rel, recorded in sorted(recorded_all.items()):
        current = sha256_file(cfg.root / rel)
        if current is None:
            problems.append(f"{rel} is missing")
        elif current != recorded:
            problems.append(
                f"{rel} changed since setup (sha256 {current[:12]}, recorded {str(recorded)[:12]})"
            )
    return problems


def default_time_budget(cfg) -> int:
    """prepare.TIME_BUDGET, read from the file (importing prepare would import torch)."""
    try:
        text = (cfg.root / "prepare.py").read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_TIME_BUDGET
    match = re.search(r"^TIME_BUDGET(?:_SECONDS)?\s*=\s*(\d+)", text, re.M)
    return int(match.group(1)) if match else DEFAULT_TIME_BUDGET


def _load_state(cfg) -> dict:
    st, err = state.read(cfg)
    if err:
        raise RunnerError(err)
    if st is None:
        raise RunnerError(f"not set up: run `{CLI} setup` first")
    return st


def _mean(values):
    return sum(values) / len(values) if values else None


# --- setup ---


def propose_tag(root, today: datetime | None = None) -> str:
    """`nov25`, or `nov25b`, `nov25c`... when that autoresearch/ branch exists."""
    today = today or datetime.now()
    base = today.strftime("%b").lower() + str(today.day)
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        if not gitutil.branch_exists(root, f"autoresearch/{base}{suffix}"):
            return base + suffix
    raise RunnerError(f"every tag {base}..{base}z is taken: pass --tag NAME")


def _pre_commit_hook(cfg) -> str:
    blocked = " ".join(f"'{p}'" for p in cfg.protected_files)
    data = " ".join(f"'{p}'" for p in (cfg.results_file, cfg.log_file))
    return f"""#!/bin/sh
{HOOK_MARKER} (installed by `experiment.py setup`; defence in depth behind the Claude Code hooks)
# Rejects commits that touch the protected harness or stage the night's untracked data.
status=0
for f in $(git diff --cached --name-only --diff-filter=ACDMRT); do
    for p in {blocked}; do
        if [ "$f" = "$p" ]; then
            echo "pre-commit: $f is protected (the fixed harness);" \
                 "restore it: git restore --staged --worktree $f" >&2
            status=1
        fi
    done
    for p in {data} '{cfg.state_dir}'; do
        case "$f" in
            "$p"|"$p"/*) echo "pre-commit: $f is untracked experiment data;" \
                              "unstage it: git restore --staged $f" >&2
               status=1 ;;
        esac
    done
done
exit $status
"""


def install_pre_commit_hook(cfg) -> str:
    """Install (or refresh) our hook; a foreign pre-commit hook is left alone and reported."""
    hooks = gitutil.hooks_dir(cfg.root)
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / "pre-commit"
    if path.exists() and HOOK_MARKER not in path.read_text(encoding="utf-8", errors="replace"):
        return f"kept the existing foreign hook {path} (not replaced; add the protected-file check by hand)"
    try:
        path.write_text(_pre_commit_hook(cfg), encoding="utf-8")
        path.chmod(0o755)
    except OSError as exc:  # Claude Code's sandbox keeps .git/hooks read-only: the hook is defence in depth
        return (
            f"not installed ({exc.strerror}: {path}); the run-time hash checks still guard the harness; "
            "run setup once outside Claude Code to add it"
        )
    return f"installed {path}"


def _ensure_ignored(cfg) -> list[str]:
    """Make git ignore the untracked data even in a repo whose .gitignore lacks it (via .git/info/exclude)."""
    added = []
    for rel in (
        cfg.results_file,
        cfg.results_file + ".lock",
        cfg.log_file,
        cfg.state_dir + "/",
        "progress.png",
    ):
        probe = rel.rstrip("/") + ("/state.json" if rel.endswith("/") else "")
        if not gitutil.is_ignored(cfg.root, probe):
            added.append(rel)
    if added:
        exclude = gitutil.info_exclude(cfg.root)
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as fh:
            fh.write("\n# autoresearch-pack: untracked experiment data\n" + "\n".join(added) + "\n")
    return added


SANDBOX_TOOLS = ("bwrap", "socat")  # what Claude Code's Linux sandbox needs (Debian: bubblewrap, socat)


def sandbox_check(platform: str | None = None, which=None) -> str:
    """One line: can Claude Code's sandbox (the wall for Bash writes) start here, and if not, what remains."""
    import shutil

    platform = platform or sys.platform
    which = which or shutil.which
    if platform == "darwin":
        return "ready (macOS Seatbelt, built in)"
    if not platform.startswith("linux"):
        return f"not available on {platform}: only the hooks and the run-time hashes guard the harness"
    missing = [tool for tool in SANDBOX_TOOLS if which(tool) is None]
    if not missing:
        return "ready (bubblewrap and socat found)"
    return (
        f"MISSING {', '.join(missing)}: install them (sudo apt-get install -y bubblewrap socat); until then "
        "Claude Code refuses to start in this project (sandbox.failIfUnavailable), and with the sandbox "
        "switched off only the hooks and the run-time hashes would guard the harness"
    )


ENV_CHECK_TIMEOUT_SECONDS = 60


def environment_check(cfg, python: str) -> str:
    """One line: does the environment that runs the night (`python`'s) match uv.lock? RunnerError when not.

    `uv sync --check --locked` against that environment: --locked fails when pyproject.toml's dependencies
    no longer match the lock, --check when an installed package differs from it. Nothing is installed."""
    import shutil

    uv = shutil.which("uv")
    if not (cfg.root / "uv.lock").is_file():
        return "not checked (no uv.lock in the project)"
    if uv is None:
        return "not checked (uv is not on PATH)"
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": prefix} if prefix else dict(os.environ)
    env.pop("UV_NO_SYNC", None)  # `uv sync --check` refuses to run under it
    try:
        proc = subprocess.run(
            [uv, "sync", "--check", "--locked", "--offline", "--quiet"],
            cwd=cfg.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=ENV_CHECK_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not checked (`uv sync --check` did not finish: {exc.__class__.__name__})"
    if proc.returncode == 0:
        return f"matches uv.lock ({prefix or 'the project environment'})"
    lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    why = (lines[0] if lines else f"exit code {proc.returncode}").removeprefix("error: ")
    raise RunnerError(
        f"the environment does not match uv.lock ({why[:160]}): run `uv sync --frozen` (if pyproject.toml's "
        "dependencies changed, restore them first), then setup again"
    )


def check_cache(cfg, python: str) -> str:
    """Run `prepare.py --check`; its one line when ready, RunnerError with that line when not."""
    if not (cfg.root / "prepare.py").is_file():
        raise RunnerError(f"prepare.py not found in {cfg.root}: run setup from the project root")
    try:
        proc = subprocess.run(
            [python, "prepare.py", "--check"],
            cwd=cfg.root,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise RunnerError(f"`prepare.py --check` took more than {CHECK_TIMEOUT_SECONDS}s") from None
    lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
    message = lines[-1] if lines else f"exit code {proc.returncode}"
    if proc.returncode != 0:
        raise RunnerError(f"data cache not ready: {message}")
    return message


def _archive_previous(cfg, old: dict) -> Path | None:
    """Move last night's ledger, sidecar, state and STOP sentinel into .autoresearch/archive/<tag>-<time>/.

    A STOP left from last night would otherwise end the new night at its first stop.
    """
    previous = (cfg.results_path, cfg.sidecar_path, cfg.state_file, cfg.stop_sentinel)
    movable = [p for p in previous if p.exists()]
    if not movable:
        return None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = cfg.state_path / "archive" / f"{old.get('tag') or 'unknown'}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in movable:
        os.replace(path, folder / path.name)
    return folder


def setup(
    cfg, tag: str | None = None, baseline_repeats: int | None = None, python: str | None = None
) -> dict:
    python = python or sys.executable
    root = cfg.root
    if not gitutil.is_repo(root):
        raise RunnerError(f"{root} is not a git repository: run `git init` and commit the project first")
    head = gitutil.try_rev_parse(root, "HEAD")
    if head is None:
        raise RunnerError("the repository has no commit yet: commit train.py and prepare.py first")
    repeats = cfg.noise.baseline_repeats if baseline_repeats is None else baseline_repeats
    if repeats < 1:
        raise RunnerError("--baseline-repeats must be at least 1 (2 or more measure the noise)")
    if tag is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", tag):
        raise RunnerError(f"tag {tag!r} is not a simple name: use letters, digits, '.', '_' or '-'")
    old, old_error = state.read(cfg)
    if old and old.get("branch") and old.get("branch") == gitutil.current_branch(root):
        raise RunnerError(
            f"already set up: tag {old.get('tag')} on this branch; to start a new night, "
            "check out the commit to start from (e.g. git checkout master) and run setup again"
        )
    dirty = gitutil.dirty_tracked_files(root)
    if dirty:
        raise RunnerError(
            f"uncommitted changes in {', '.join(dirty[:5])}: commit them first so the baseline is a commit"
        )
    for rel in cfg.protected_files:
        if not (root / rel).is_file():
            raise RunnerError(f"protected file {rel} is missing: restore it before setup")
    tag = tag or propose_tag(root)
    branch = f"autoresearch/{tag}"
    if gitutil.branch_exists(root, branch):
        raise RunnerError(f"branch {branch} already exists: pick another --tag (or omit it for a fresh one)")
    environment = environment_check(cfg, python)
    cache_message = check_cache(cfg, python)

    had_previous = old or old_error or cfg.results_path.exists() or cfg.stop_sentinel.exists()
    archived = _archive_previous(cfg, old or {}) if had_previous else None
    gitutil.create_branch(root, branch)
    ignored_added = _ensure_ignored(cfg)
    created = ledger.create(cfg.results_path)
    hashes = attest.hash_files(cfg)  # the harness and every guard file: each run compares before and after
    hook_message = install_pre_commit_hook(cfg)
    st = state.new_state(tag, branch, head, hashes, repeats, cfg.noise.fallback_sigma)
    state.save(cfg, st)
    return {
        "tag": tag,
        "branch": branch,
        "baseline_commit": head,
        "cache": cache_message,
        "results_created": created,
        "results_file": str(cfg.results_path),
        "archived_previous": str(archived) if archived else None,
        "ignore_added": ignored_added,
        "protected_hashes": hashes,
        "pre_commit_hook": hook_message,
        "sandbox": sandbox_check(),
        "environment": environment,
        "baseline_repeats": repeats,
        "next": f"baseline 0/{repeats} measured: run the unmodified baseline: {CLI} run",
    }


def _hashed_summary(hashes: dict) -> str:
    tops = sorted(
        {
            rel.split("/")[0] if not rel.startswith(".claude/") else "/".join(rel.split("/")[:2])
            for rel in hashes
        }
    )
    return f"{len(hashes)} files ({', '.join(tops)})"


def format_setup(result: dict) -> str:
    lines = [
        f"setup: tag {result['tag']} | branch {result['branch']} | baseline {result['baseline_commit'][:7]}",
        f"cache: {result['cache']}",
        f"results: {'created' if result['results_created'] else 'kept existing'} {result['results_file']}",
        f"protected: {_hashed_summary(result['protected_hashes'])} (sha256 recorded)",
        f"git hook: {result['pre_commit_hook']}",
        f"sandbox: {result['sandbox']}",
        f"environment: {result['environment']}",
    ]
    if result["archived_previous"]:
        lines.append(f"archived: the previous night's files moved to {result['archived_previous']}")
    if result["ignore_added"]:
        lines.append(f"ignored: added {', '.join(result['ignore_added'])} to .git/info/exclude")
    lines.append(f"noise: {result['baseline_repeats']} baseline run(s) measure it")
    lines.append(f"next: {result['next']}")
    return "\n".join(lines)


# --- process-group supervision ---


def _group_pids(pgid: int) -> list[int] | None:
    """Live (non-zombie) processes in a process group, in this pid namespace; None without a usable /proc."""
    table = procs.table()
    if table is None:
        return None
    return [p.pid for p in table.values() if p.pgid == pgid and not p.zombie]


def _alive(pgid: int, extra: set[int]) -> bool:
    members = _group_pids(pgid)
    if members is None:  # the kernel answers for the group itself; zombies count as alive here
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            pass
    elif members:
        return True
    return any(state.pid_alive(p) for p in extra)


def _signal_all(pgid: int, extra: set[int], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in extra:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(pgid: int, grace: float, extra: set[int] | None = None, leader=None) -> str:
    """SIGTERM the group and remembered descendants, wait `grace`, SIGKILL what is left; say how it ended."""
    extra = set(extra or ())

    def reap():
        if leader is not None:
            leader.poll()

    reap()
    if not _alive(pgid, extra):
        return "already gone"
    _signal_all(pgid, extra, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not _alive(pgid, extra):
            return "ended on SIGTERM"
        time.sleep(0.05)
    _signal_all(pgid, extra, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap()
        if not _alive(pgid, extra):
            break
        time.sleep(0.05)
    return "SIGKILL after grace"


def _descendants(pid: int) -> dict[int, float]:
    """{pid: start time} of train.py's descendants (a start time tells a reused pid from the same one)."""
    table = procs.table()
    if table is not None:
        return procs.descendants(pid, table)
    try:  # no /proc (macOS): psutil's own view, which is this namespace's there
        import psutil

        return {p.pid: p.create_time() for p in psutil.Process(pid).children(recursive=True)}
    except Exception:  # noqa: BLE001 - best effort; the group kill is the main mechanism
        return {}


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _become_subreaper() -> bool:
    """Linux: orphans of train.py's tree (double forks, `setsid` daemons) are reparented to this runner, not
    to init, so the end-of-run sweep still finds them. False elsewhere (macOS has no equivalent)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _adopted(spare: set[int]) -> set[int]:
    """This runner's descendants outside the spared trees (the scorer's): as the subreaper, every process
    train.py left behind ends up here."""
    table = procs.table()
    if table is None:
        return set()
    spared = set(spare)
    for pid in spare:
        spared |= set(procs.descendants(pid, table))
    return set(procs.descendants(os.getpid(), table)) - spared


def _reap(pids: set[int]) -> None:
    """Collect the exit status of adopted orphans the sweep ended (else they stay zombies of this runner)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass


def _still_running(remembered: dict[int, float], spare: set[int]) -> set[int]:
    """The remembered descendants that are still the same processes; never a pid in `spare`.

    A descendant that exited may see its pid reused (quickly, in a sandbox's small pid namespace) by an
    unrelated process, such as the runner's own scorer: that one must not be signalled."""
    table = procs.table()
    if table is not None:
        return {
            pid
            for pid, started in remembered.items()
            if pid not in spare and pid in table and table[pid].started == started and not table[pid].zombie
        }
    try:
        import psutil
    except ImportError:
        return set(remembered) - spare
    alive = set()
    for pid, started in remembered.items():
        try:
            if pid not in spare and psutil.Process(pid).create_time() == started:
                alive.add(pid)
        except psutil.Error:
            pass
    return alive


class _LogWatch:
    """Reads run.log incrementally; remembers only what classification needs (never the whole log)."""

    def __init__(self, tail_lines: int):
        self.tail = collections.deque(maxlen=max(1, tail_lines))
        self.partial = b""
        self.last_loss = None
        self.steps_seen = 0
        self.diverged = None
        self.fail = None
        self.exception = None
        self.traceback = False
        self._in_traceback = False
        self.oom_line = None

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.partial + chunk
        parts = re.split(rb"\r\n|\n|\r", data)
        self.partial = b"" if final else parts.pop()
        if len(self.partial) > MAX_PARTIAL_BYTES:  # a line that never ends: judge what we have
            parts.append(self.partial)
            self.partial = b""
        for raw in parts:
            self._line(raw.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        self.tail.append(line)
        loss = summary.step_loss(line)
        if loss is not None:
            self.steps_seen += 1
            self.last_loss = loss
            if self.diverged is None and (not math.isfinite(loss) or loss > EXPLODE_LOSS):
                self.diverged = f"loss {loss} at progress line {self.steps_seen}"
            return
        reason = summary.fail_reason(line)
        if reason is not None:
            self.fail = reason
        if line.startswith(_TRACEBACK):
            self.traceback = True
            self._in_traceback = True
        elif self._in_traceback and not line[:1].isspace():
            self.exception = line.strip()
            self._in_traceback = False
        if _OOM.search(line):
            self.oom_line = line.strip()


def _classify(rc, timed_out, interrupted, watch: _LogWatch, parsed: dict | None) -> tuple[str, str]:
    """(outcome, one-line reason)."""
    if interrupted == "cancel":
        return "timeout", "cancelled (`experiment.py cancel`): killed the process group"
    if interrupted:
        return (
            "timeout",
            f"the runner itself got {interrupted} (the Bash call was cut off?) and killed the run",
        )
    if timed_out:
        return "timeout", "hard wall-clock limit reached: killed the process group"
    if watch.diverged:
        return "diverged", f"stopped early: {watch.diverged}"
    if rc != 0 and watch.oom_line:  # the exit code decides first: a run that succeeded is not an OOM
        return "oom", watch.oom_line
    if rc in (137, -9) and not watch.traceback:
        return "oom", f"killed by SIGKILL (exit {rc}) with no traceback: most likely the host OOM killer"
    if rc != 0:
        if watch.fail and re.search(r"nan|inf|diverg|explod", watch.fail, re.I):
            return "diverged", f"train.py failed fast: {watch.fail}"
        if watch.exception:
            return "crash", watch.exception
        if watch.fail:
            return "crash", f"train.py failed fast: {watch.fail}"
        return "crash", f"exit code {rc} with no traceback"
    if parsed is None:
        return "metric-missing", "exit 0 but no `---` summary block with val_bpb in run.log"
    if not summary.is_finite(parsed.get("val_bpb")):
        return "diverged", f"val_bpb is {parsed.get('val_bpb')}"
    return "ok", "finished"


def _comparability(cfg, parsed: dict | None, wall: float | None = None) -> tuple[bool, str | None]:
    budget = default_time_budget(cfg)
    override = os.environ.get(TIME_BUDGET_ENV)
    if override:
        return False, f"{TIME_BUDGET_ENV}={override} overrides the {budget}s budget"
    if wall is not None and wall > FAR_ABOVE_BUDGET * budget + 60:  # the runner's clock, not train.py's word
        return False, f"the run took {wall:.0f}s of wall time, far above the {budget}s budget"
    if parsed:
        used = parsed.get("time_budget")
        if isinstance(used, int) and used != budget:
            return False, f"train.py used time_budget {used}s, not the fixed {budget}s"
        trained = parsed.get("training_seconds")
        if isinstance(trained, float) and trained > FAR_ABOVE_BUDGET * budget + 30:
            return False, f"training_seconds {trained:.0f} is far above the {budget}s budget"
    return True, None


def _memory_gb(parsed: dict | None) -> float:
    """Peak GPU memory in GB; on CPU-only runs (vram 0) the peak host RSS instead."""
    if not parsed:
        return 0.0
    vram = parsed.get("peak_vram_mb") or 0.0
    rss = parsed.get("peak_rss_mb") or 0.0
    value = vram if vram > 0 else rss
    return value / 1024.0 if math.isfinite(value) else 0.0


def _read_tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _rel(cfg, path: Path) -> str:
    return str(path.relative_to(cfg.root)) if path.is_relative_to(cfg.root) else str(path)


def _write_bounded_log(cfg, full_tail: str | None, header: str) -> None:
    """run.log = one header line, the last tail_lines lines of the output, then the summary block.

    The complete output stays in .autoresearch/logs/, so no read of run.log can flood the agent's context,
    and the seed's `grep "^val_bpb:..." run.log` and `tail -n 50 run.log` read what they always did."""
    fsutil.atomic_write(
        cfg.log_path, logbound.bounded_text(full_tail, header, cfg.tail_lines).encode("utf-8")
    )


def _prune_full_logs(cfg) -> None:
    logs = sorted(cfg.full_log_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-FULL_LOGS_KEPT]:
        old.unlink(missing_ok=True)


def _reap_stale_flight(cfg, st: dict) -> str | None:
    """A run left in flight by a runner that died (e.g. SIGKILLed): kill its group, clear it, say so."""
    flight = st.get("in_flight")
    if not isinstance(flight, dict):
        return None
    if state.flight_alive(cfg, flight):
        started = flight.get("started_at")
        raise RunnerError(
            f"a run of {str(flight.get('commit'))[:7]} is in flight since {started} "
            f"(runner pid {flight.get('runner_pid')}): wait for it, or `{CLI} status`"
        )
    pgid = flight.get("pgid")
    if flight.get("pid_ns") and flight.get("pid_ns") != procs.namespace_id():
        how = "its processes ended with the Bash call that started them"  # its pids are another namespace's
    elif isinstance(pgid, int) and pgid > 1:
        how = kill_group(pgid, cfg.kill_grace_seconds)
    else:
        how = "no group"
    st["in_flight"] = None
    return f"cleaned up an interrupted run of {str(flight.get('commit'))[:7]} ({how})"


def _suggestion_text(commit_subject: str) -> str:
    text = re.sub(r"[\t\r\n\"`$\\]", " ", commit_subject).strip()
    return text[:80] or "<what you changed>"


def _rooted(cfg, root: Path):
    """The same config, read against another checkout (a job's worktree) for its files only."""
    from .config import Config

    return Config(root, **{f: getattr(cfg, f) for f in Config.FIELDS if f != "root"})


def run(
    cfg,
    python: str | None = None,
    install_signal_handlers: bool = True,
    tick=None,
    job_id: str | None = None,
    workdir: Path | None = None,
    env: dict | None = None,
    on_flight=None,
    commit: str | None = None,
    plan: dict | None = None,
):
    """Run train.py once under supervision, update state, and return the verdict as data.

    `tick()` (the job's supervisor) is called every few seconds; a reason it returns stops the run.
    With `workdir` (a job's own tree of `commit`, exported from git) the run touches neither the state nor
    run.log, since other jobs run beside it: it returns (verdict, run), and the job record keeps the run for
    `record --job`. Git questions are asked of the checkout's repository (`repo`), files of `root`.
    With `plan` (a remote worker, which has no repository: raybackend.py) the answers come precomputed:
    head, base, subject, the tracked hashes and the pristine harness folder; the suggestion is left to the
    agent's machine, which knows the best."""
    python = python or sys.executable
    beside = workdir is not None
    root = Path(workdir) if beside else cfg.root
    repo = cfg.root
    files_cfg = _rooted(cfg, root) if beside else cfg
    notes = [n for n in [finish_interrupted_record(cfg)] if n]
    st = _load_state(cfg)
    stale = None if beside else _reap_stale_flight(cfg, st)
    if stale:
        notes.append(stale)
        state.save(cfg, st)
    head = plan["head"] if plan else gitutil.try_rev_parse(repo, commit or "HEAD")
    if head is None:
        raise RunnerError("cannot read HEAD: is this still the experiment repository?")
    branch = None if plan else gitutil.current_branch(repo)
    if not beside and branch != st.get("branch"):
        notes.append(f"on {branch or 'a detached HEAD'}, not the night's branch {st.get('branch')}")

    previous = {} if beside else st.get("last_run") or {}
    if previous and not previous.get("recorded") and previous.get("commit") != head:
        if not previous.get("dropped_at"):  # once: a refused run must not log it twice
            previous["dropped_at"] = state.now_iso()
            ledger.append_record(cfg.sidecar_path, {**previous, "recorded": False, "status": None})
            state.save(cfg, st)
        notes.append(
            f"the run of {str(previous.get('commit'))[:7]} was never recorded (kept in runs.jsonl only)"
        )

    if plan:
        st = dict(st, protected_hashes=plan["hashes"])
    elif beside:  # the tree holds what the commit tracks: a hashed file git never tracked is not expected
        listed = gitutil.git(repo, "ls-tree", "-r", "-z", "--name-only", st["baseline_commit"], strip=False)
        tracked_at = set(listed.split("\0"))
        hashes = {k: v for k, v in (st.get("protected_hashes") or {}).items() if k in tracked_at}
        st = dict(st, protected_hashes=hashes)
    problems = check_protected(files_cfg, st)
    if problems:
        restore = " ".join(
            rel for rel in st.get("protected_hashes", {}) if any(p.startswith(rel) for p in problems)
        )
        last = {
            "commit": head,
            "base_commit": head,
            "outcome": "tampered",
            "reason": "; ".join(problems),
            "val_bpb": None,
            "memory_gb": 0.0,
            "finished_at": state.now_iso(),
            "comparable": False,
            "recorded": False,
            "replicates": [],
            "suggestion": "restore",
            "next": f"restore the protected files: git checkout {st['baseline_commit'][:7]} -- {restore}; "
            f"then {CLI} run",
        }
        if beside:
            return _verdict(cfg, last, notes, tail=[]), last
        st["last_run"] = last
        state.save(cfg, st)
        return _verdict(cfg, last, notes, tail=[])

    from .keeper import untracked_names

    tracked = [] if beside else gitutil.git(repo, "ls-files", "--", *untracked_names(cfg)).split()
    if tracked:  # a commit holds the night's data: `git reset` would now take it away
        raise RunnerError(
            f"{', '.join(tracked[:3])} is tracked by git, but the night's data must stay untracked: "
            f"`git rm --cached {' '.join(tracked[:3])}` and commit that, then run again"
        )
    dirty = [] if beside else gitutil.dirty_tracked_files(repo)
    dirty = [f for f in dirty if not f.startswith(cfg.state_dir)]
    if dirty:
        raise RunnerError(
            f"uncommitted changes in {', '.join(dirty[:5])}: commit the experiment first "
            '(git add train.py && git commit -m "<idea>") so the result belongs to a commit'
        )
    if not (root / cfg.train_script).is_file():
        raise RunnerError(f"{cfg.train_script} not found in {root}")

    incumbent = st.get("incumbent_commit") or st.get("baseline_commit")
    if plan:
        base = plan["base"]
    elif incumbent == head or (incumbent and gitutil.is_ancestor(repo, incumbent, head)):
        base = incumbent
    else:
        base = gitutil.try_rev_parse(repo, f"{head}~1") or head
        notes.append(f"the best commit {str(incumbent)[:7]} is not an ancestor of HEAD: base is HEAD~1")

    replicates, runs = [], []
    merges: list[str] = []
    if beside and not plan:  # a near-tie remeasure: an unrecorded earlier job of this commit lends its runs
        from . import jobs

        earlier = [j for j in jobs.unrecorded(cfg) if j.commit == head and j.id != job_id]
        if earlier and earlier[-1].run.get("outcome") == "ok" and earlier[-1].run.get("comparable"):
            previous = earlier[-1].run
            merges = [earlier[-1].id, *(previous.get("merges") or [])]
    if previous and not previous.get("recorded") and previous.get("commit") == head:
        if previous.get("outcome") == "ok" and previous.get("comparable"):
            replicates = list(previous.get("replicates") or [])
            runs = list(previous.get("runs") or [])

    harness = None
    if cfg.attest:
        try:
            pinned = (root / plan["harness"], plan["harness_sha256"]) if plan else None
            harness = pinned or attest.pristine_harness(cfg, st)
        except attest.AttestError as exc:
            raise RunnerError(str(exc)) from None
        keep = _artifact_commits(cfg, st) | {head}
        if not beside:  # other jobs' models are in flight beside this one
            attest.prune_artifacts(cfg, keep)
        cfg.artifact_dir.mkdir(parents=True, exist_ok=True)
    artifact = cfg.artifact_dir / f"run-{os.getpid()}-{int(time.time())}.pt2"
    attest.remove_artifact(artifact)
    command = (
        attest.train_command(python, cfg.train_script, artifact) if cfg.attest else [python, cfg.train_script]
    )

    env = dict(os.environ, PYTHONUNBUFFERED="1", **{SUPERVISED_ENV: "1"}, **(env or {}))
    started_at = state.now_iso()
    cfg.full_log_dir.mkdir(parents=True, exist_ok=True)
    log_path = cfg.full_log_path(head, started_at, job_id if beside else None)
    if not beside:
        header = f"# a run of {head[:7]} is in flight; full output: {_rel(cfg, log_path)}"
        _write_bounded_log(cfg, None, header)
    t0 = time.monotonic()
    interrupted: list[str] = []
    integrity = attest.IntegrityWatch(files_cfg, st.get("protected_hashes") or {})
    scorer = None

    def on_signal(signum, frame):
        interrupted.append(signal.Signals(signum).name)

    # the CLI supervises its run; a library caller (a benchmark) does not become a subreaper
    reaper = install_signal_handlers and _become_subreaper()
    old_handlers = {}
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            old_handlers[sig] = signal.signal(sig, on_signal)
    try:
        with open(log_path, "wb") as log_fh:
            proc = subprocess.Popen(
                command,
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own session and process group: killpg reaches every descendant
            )
        pgid = proc.pid
        if harness:  # its imports overlap train.py's own start-up; then it waits (no CPU) for `go`
            scorer = attest.Scorer(*harness, artifact, python)
        flight = {
            "pid": proc.pid,
            "pgid": pgid,
            "runner_pid": os.getpid(),
            "commit": head,
            "base_commit": base,
            "started_at": started_at,
            "log": _rel(cfg, log_path),
            "job": job_id,
            "pid_ns": procs.namespace_id(),
        }
        if not beside:
            st["in_flight"] = flight
            state.save(cfg, st)
        if on_flight:
            on_flight(flight)
        watch = _LogWatch(cfg.tail_lines)
        descendants: dict[int, float] = {}
        next_scan = 0.0
        timed_out = False
        with open(log_path, "rb") as reader:
            while True:
                rc = proc.poll()
                watch.feed(reader.read())
                if rc is not None:
                    break
                now = time.monotonic()
                changed = integrity.quick()
                if now >= next_scan:
                    stop = tick() if tick else None
                    if stop and not interrupted:
                        interrupted.append(stop)
                    descendants.update(_descendants(proc.pid))
                    changed = changed or integrity.full()
                    next_scan = now + DESCENDANT_SCAN_SECONDS
                if changed or interrupted or watch.diverged or now - t0 > cfg.hard_timeout_seconds:
                    timed_out = not (changed or interrupted or watch.diverged)
                    break
                time.sleep(POLL_SECONDS)
            # Always sweep the group: a finished train.py may leave workers behind.
            spare = {scorer.proc.pid} if scorer is not None else set()
            adopted = _adopted(spare) if reaper else set()  # train.py's whole tree, orphans included
            kill_how = kill_group(
                pgid, cfg.kill_grace_seconds, _still_running(descendants, spare) | adopted, leader=proc
            )
            _reap(adopted - {proc.pid})  # train.py itself is the Popen's to wait for
            rc = proc.wait()
            watch.feed(reader.read(), final=True)
        integrity.full()

        full_tail = _read_tail(log_path, SUMMARY_TAIL_BYTES)
        parsed = summary.parse_summary(full_tail)
        if not beside:
            _write_bounded_log(cfg, full_tail, f"# the full output of this run: {_rel(cfg, log_path)}")
            _prune_full_logs(cfg)
        outcome, reason = _classify(rc, timed_out, interrupted[0] if interrupted else None, watch, parsed)
        if integrity.first_problem:
            outcome, reason = oc.TAMPERED, f"{integrity.first_problem} (the run was stopped; never keepable)"
        reported = parsed.get("val_bpb") if parsed else None
        attestation = None
        attested = reported
        if cfg.attest and outcome == oc.OK:
            remaining = cfg.hard_timeout_seconds - (time.monotonic() - t0)
            scorer = scorer or attest.Scorer(*harness, artifact, python)
            outcome, reason, attested, attestation = _attest(harness, scorer, artifact, reported, remaining)
            scorer = None
            integrity.full()
            if integrity.first_problem:
                outcome, reason = oc.TAMPERED, f"{integrity.first_problem} (never keepable)"
    finally:
        if scorer is not None:
            scorer.abort()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    wall = time.monotonic() - t0
    if outcome == oc.OK and cfg.attest:
        os.replace(artifact, attest.artifact_path(cfg, head))
        os.replace(
            artifact.parent / (artifact.name + ".json"),
            artifact.parent / (attest.artifact_path(cfg, head).name + ".json"),
        )
    else:
        attest.remove_artifact(artifact)

    comparable, why_not = _comparability(cfg, parsed, wall)
    if why_not:
        notes.append(f"not comparable: {why_not}")
    if not cfg.attest and outcome == oc.OK:
        notes.append("attestation is off (attest = false in pyproject.toml): val_bpb is train.py's own")
    this_run = {
        "val_bpb": attested if outcome == oc.OK else None,
        "reported_val_bpb": reported,
        "exit_code": rc,
        "wall_seconds": round(wall, 2),
        "summary": parsed,
        "kill": kill_how,
    }
    if outcome == oc.OK and comparable:
        replicates.append(attested)
        runs.append(this_run)
    elif outcome == oc.OK:
        replicates, runs = [attested], [this_run]
    else:
        replicates, runs = [], [this_run]

    last = {
        "commit": head,
        "base_commit": base,
        "outcome": outcome,
        "reason": reason,
        # ok: the mean of the attested replicates; mismatch and leak: the attested figure, never keepable
        "val_bpb": _mean(replicates) if outcome == oc.OK else attested if outcome in SCORED else None,
        "reported_val_bpb": reported,
        "attested": bool(cfg.attest and attestation and outcome == oc.OK),
        "attestation": attestation,
        "memory_gb": round(_memory_gb(parsed), 3) if outcome == oc.OK else 0.0,
        "started_at": started_at,
        "finished_at": state.now_iso(),
        "wall_seconds": round(wall, 2),
        "exit_code": rc,
        "comparable": comparable and outcome == oc.OK,
        "not_comparable_reason": why_not,
        "recorded": False,
        "replicates": replicates,
        "runs": runs,
        "summary": parsed,
        "subject": plan["subject"] if plan else gitutil.commit_subject(repo, head),
        "log": _rel(cfg, log_path),
    }
    if beside:
        last["job"] = job_id
        last["merges"] = merges if len(replicates) > 1 else []  # recorded with this run, never on their own
        if not plan:
            _suggest(cfg, st, last)
    else:
        st["in_flight"] = None
        st["last_run"] = last
        state.save(cfg, st)
        _suggest(cfg, st, last)
        state.save(cfg, st)
    # the log explains crashes; a mismatch, leak or tampering is explained by the reason line
    tail = list(watch.tail) if outcome not in (oc.OK, oc.MISMATCH, oc.LEAK, oc.TAMPERED) else []
    verdict = _verdict(cfg, last, notes, tail)
    verdict["interrupted"] = bool(interrupted)
    return (verdict, last) if beside else verdict


def _artifact_commits(cfg, st: dict) -> set[str]:
    """Commits whose artifacts stay: the baseline, every keep, and the unrecorded run (it may be kept)."""
    keep = {st.get("baseline_commit") or ""}
    # the sidecar holds full commits (results.tsv only 7-character ones)
    keep |= {r.get("commit") for r in ledger.read_records(cfg.sidecar_path) if r.get("status") == "keep"}
    last = st.get("last_run") or {}
    if last.get("commit") and not last.get("recorded"):
        keep.add(last["commit"])
    return {c for c in keep if c}


def _attest(harness, scorer, artifact: Path, reported, seconds_left: float):
    """(outcome, reason, attested val_bpb, attestation record) for a run that exited 0 with a summary."""
    harness_sha = harness[1]
    export = attest.export_record(artifact)
    if not export.get("ok"):
        scorer.abort()
        return oc.METRIC_MISSING, f"attestation: {export.get('error')}", None, {"export": export}
    try:
        result = scorer.result(seconds_left)
    except attest.AttestError as exc:
        return oc.METRIC_MISSING, f"attestation: {exc}", None, {"export": export}
    record = {
        "harness_sha256": harness_sha,
        "artifact_sha256": attest.sha256_file(artifact),
        "export": export,
        "probe": result.get("probe"),
        "rows": result.get("rows"),
        "bytes": result.get("bytes"),
        "device": result.get("device"),
        "precision": result.get("precision"),
        "seconds": result.get("seconds"),
    }
    value = result["bpb"]
    probe = result.get("probe") or {}
    if not probe.get("ok", True):
        shown = ", ".join(str(p) for p in probe.get("leaked_positions", [])[:8])
        return (
            oc.LEAK,
            f"causality probe: logits at positions {shown} changed when only later tokens changed "
            f"(max |delta| {probe.get('max_abs_delta', 0):.3g} > {probe.get('tolerance')}): the model sees "
            f"the future; attested val_bpb {value:.6f} is meaningless",
            value,
            record,
        )
    if not summary.is_finite(value):
        return oc.DIVERGED, f"attested val_bpb is {value}", None, record
    if not summary.is_finite(reported) or abs(value - reported) > attest.MISMATCH_TOLERANCE:
        return (
            oc.MISMATCH,
            f"train.py printed val_bpb {reported}, the runner measured {value:.6f} "
            f"(tolerance {attest.MISMATCH_TOLERANCE}): the printed figure is not the model's",
            value,
            record,
        )
    return oc.OK, "finished; val_bpb attested", value, record


def _suggest(cfg, st: dict, last: dict) -> None:
    """Fill last_run's suggestion, decision numbers and `next` (the command the agent should run)."""
    info = status.collect(cfg)
    desc = _suggestion_text(last.get("subject") or "")
    is_baseline = last["commit"] == st.get("baseline_commit")
    rec = f"{CLI} record --job {last['job']}" if last.get("job") else f"{CLI} record"
    if last["outcome"] == oc.MISMATCH:  # a real model with a wrong printout: its attested value is a discard
        last["suggestion"] = "discard"
        last["next"] = f'{rec} discard "{desc}"'
        return
    if last["outcome"] == oc.LOST:  # the cluster lost it: nothing was measured, nothing to record
        last["suggestion"] = "resubmit"
        last["next"] = (
            f"the job was lost with its Ray node or job (not the idea's fault): resubmit it: "
            f"{CLI} submit --hold {last['commit'][:7]}, then {CLI} wait"
        )
        return
    if last["outcome"] != "ok":
        last["suggestion"] = "crash"
        last["next"] = f'{rec} crash "{desc}"'
        return
    if is_baseline:
        done, wanted = info["baseline_runs"], int(st.get("baseline_repeats") or 1)
        if last.get("job"):  # a worktree job's runs are in no state yet
            done += len(last["replicates"])
        last["baseline_progress"] = f"{done}/{wanted}"
        if done < wanted:
            last["suggestion"] = "rerun"
            last["reason"] = f"baseline {done}/{wanted}: repeats of the unmodified baseline measure the noise"
            last["next"] = f"baseline {done}/{wanted} measured: run again: {CLI} run"
        else:
            last["suggestion"] = "keep"
            last["reason"] = f"baseline {done}/{wanted} measured: it sets the bar"
            last["next"] = f'baseline {done}/{wanted} measured: {rec} keep "baseline"'
        return
    best = info["best"]
    sigma = info["noise"]["sigma"]
    decision = noise.decide(
        cfg,
        last["val_bpb"],
        len(last["replicates"]),
        best["val_bpb"] if best else None,
        best["n"] if best else 1,
        sigma,
        last["comparable"],
    )
    last.update(
        suggestion=decision["suggestion"],
        decision=decision,
        best=best,
        noise={k: info["noise"][k] for k in ("sigma", "n", "source")},
    )
    if decision["suggestion"] == "rerun" and last.get("job"):
        last["next"] = (
            f"near-tie: measure it again: {CLI} submit {last['commit'][:7]}, then record each run "
            f'({rec} discard "{desc} (near-tie, remeasured)")'
        )
    elif decision["suggestion"] == "rerun":
        last["next"] = f"near-tie: run the same commit again (no record in between): {CLI} run"
    else:
        last["next"] = f'{rec} {decision["suggestion"]} "{desc}"'


def _verdict(cfg, last: dict, notes: list[str], tail: list[str]) -> dict:
    return {
        "outcome": last["outcome"],
        "reason": last.get("reason"),
        "commit": last["commit"][:7],
        "base_commit": (last.get("base_commit") or "")[:7],
        "val_bpb": last.get("val_bpb"),
        "reported_val_bpb": last.get("reported_val_bpb"),
        "attested": bool(last.get("attested")),
        "replicates": last.get("replicates", []),
        "memory_gb": last.get("memory_gb"),
        "comparable": last.get("comparable"),
        "suggestion": last.get("suggestion"),
        "decision": last.get("decision"),
        "best": last.get("best"),
        "noise": last.get("noise"),
        "baseline_progress": last.get("baseline_progress"),
        "summary": last.get("summary"),
        "wall_seconds": last.get("wall_seconds"),
        "notes": notes,
        "log_tail": [logbound.clip(line) for line in tail[-cfg.tail_lines :]],
        "next": last.get("next"),
    }


def _provenance(v: dict) -> str:
    reported = v.get("reported_val_bpb")
    if not v.get("attested"):
        return "(train.py's own figure: not attested)"
    return f"(attested; train.py printed {reported:.6f})" if summary.is_finite(reported) else "(attested)"


def format_verdict(v: dict) -> str:
    s = v.get("summary") or {}
    head = f"run: {v['outcome']} | commit {v['commit']}"
    if v.get("wall_seconds") is not None:
        head += f" | {v['wall_seconds']:.0f}s wall"
    if s.get("num_steps") is not None:
        head += f" | {s['num_steps']} steps"
    if s.get("device"):
        head += f" | {s['device']}"
    lines = [head]
    if v["outcome"] == "ok":
        reps = v.get("replicates") or []
        mean_note = (
            f" (mean of {len(reps)} runs: {', '.join(f'{x:.6f}' for x in reps)})" if len(reps) > 1 else ""
        )
        lines.append(
            f"val_bpb: {v['val_bpb']:.6f}{mean_note} {_provenance(v)} | peak memory {v['memory_gb']:.1f} GB"
        )
        d, best = v.get("decision"), v.get("best")
        if d and best and d.get("delta") is not None:
            lines.append(
                f"vs best: {best['val_bpb']:.6f} ({best['commit']}) delta {d['delta']:+.6f} | "
                f"noise threshold {d['threshold']:.6f} "
                f"(sigma {v['noise']['sigma']:.6f}, {v['noise']['source']})"
            )
        elif v.get("baseline_progress"):
            lines.append(f"baseline: {v['baseline_progress']} runs measured")
        reason = d["reason"] if d else v.get("reason")
        lines.append(f"suggest: {v['suggestion']} ({reason})")
    else:
        lines.append(f"reason: {v.get('reason')}")
        if v["outcome"] in (oc.MISMATCH, oc.LEAK) and summary.is_finite(v.get("val_bpb")):
            printed = v.get("reported_val_bpb")
            printed = f"{printed:.6f}" if summary.is_finite(printed) else "nothing"
            lines.append(f"val_bpb: {v['val_bpb']:.6f} attested | train.py printed {printed}; never keepable")
        lines.append(f"suggest: {v.get('suggestion')}")
    for note in v.get("notes") or []:
        lines.append(f"note: {note}")
    if v.get("log_tail"):
        lines.append(f"--- last {len(v['log_tail'])} lines of run.log ---")
        lines.extend(v["log_tail"])
        lines.append("---")
    lines.append(f"next: {v.get('next')}")
    return "\n".join(lines)


# --- record ---


# `record` journals its intent, then takes these steps; a kill at any point is completed by the next command.
RECORD_STEPS = ("intent", "row", "sidecar", "ref", "state", "reset")
FAULT_ENV = "AUTORESEARCH_FAULT_AT"  # tests only: `record:<step>` SIGKILLs the CLI right after that step


def _fault_point(step: str) -> None:
    if os.environ.get(FAULT_ENV) == f"record:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _record_lock(cfg):
    cfg.state_path.mkdir(parents=True, exist_ok=True)
    return fsutil.lock(cfg.state_path / "record.lock", 60)  # one record at a time: no duplicate rows


def record(cfg, status_word: str, description: str, job_id: str | None = None) -> dict:
    """Append the last run's row (locked, before any reset) and its sidecar record; reset on discard/crash.

    Exactly once: the intent is journaled first; an interrupted record is completed before anything else."""
    try:
        ledger.check_status(status_word)
        description = ledger.check_description(description)
    except ledger.LedgerError as exc:
        raise RunnerError(str(exc)) from None
    try:
        with _record_lock(cfg):
            finished = _finish_intent(cfg)
            if finished and (finished["status"], finished["description"]) == (status_word, description):
                return finished  # the same record, retried after it was interrupted: now complete
            return _record_locked(cfg, status_word, description, finished, job_id)
    except TimeoutError:
        raise RunnerError("another `record` holds the lock for 60 s: try again") from None


def finish_interrupted_record(cfg) -> str | None:
    """Complete a `record` that was killed part-way (every command calls this first); a note, or None."""
    if not cfg.record_intent_path.exists():
        return None
    try:
        with _record_lock(cfg):
            done = _finish_intent(cfg)
    except TimeoutError:
        return None  # a live `record` holds the lock: it finishes its own intent
    if not done:
        return None
    where = f"results.tsv line {done['row_line']}"
    return f"completed an interrupted record: {done['commit']} {done['status']} ({where})"


def _finish_intent(cfg) -> dict | None:
    path = cfg.record_intent_path
    try:
        intent = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # torn before its atomic rename completed: nothing was written after it
        path.unlink(missing_ok=True)
        return None
    return _apply_intent(cfg, intent)


def _job_run(cfg, job_id: str) -> dict:
    """The finished run of a worktree job, for `record --job`."""
    from . import jobs

    try:
        job = jobs.load(cfg, job_id)
    except jobs.JobError as exc:
        kept = _pending_copy(cfg, job_id)  # the job record is gone: its run's copy in the sidecar is not
        if kept is None:
            raise RunnerError(str(exc)) from None
        return kept
    if job.state != "done" and job.alive():
        raise RunnerError(f"job {job_id} is still running: `{CLI} wait {job_id}`, then record it")
    if not job.worktree:
        raise RunnerError(f"job {job_id} ran in the checkout: record it without --job")
    if not job.run:
        why = job.error or "it never finished a run"
        raise RunnerError(f"job {job_id} has no run to record ({why}): submit it again")
    return job.run


def _pending_copy(cfg, job_id: str) -> dict | None:
    """The copy of a job's finished run that its supervisor appended to the sidecar, unless recorded since."""
    records = ledger.read_records(cfg.sidecar_path)
    if any(r.get("job") == job_id and r.get("status") for r in records):
        return None
    copies = [r for r in records if r.get("pending_job") == job_id]
    if not copies:
        return None
    run = {k: v for k, v in copies[-1].items() if k not in ("pending_job", "status")}
    return dict(run, recorded=False)


def _record_locked(
    cfg, status_word: str, description: str, finished: dict | None = None, job_id: str | None = None
) -> dict:
    st = _load_state(cfg)
    if job_id:
        last = _job_run(cfg, job_id)
    else:
        flight = st.get("in_flight")
        if isinstance(flight, dict) and state.flight_alive(cfg, flight):
            raise RunnerError("a run is in flight: wait for its verdict (`wait`), then record it")
        last = st.get("last_run")
        waiting = _unrecorded_jobs(cfg) if not last or last.get("recorded") else []
        if len(waiting) == 1:  # one worker's `run` + `record`: the one job there is
            job_id, last = waiting[0], _job_run(cfg, waiting[0])
        elif waiting:
            raise RunnerError(
                f"{len(waiting)} jobs wait to be recorded ({', '.join(waiting)}): name one, "
                f'`{CLI} record --job {waiting[0]} {status_word} "<description>"`'
            )
    if not last:
        raise RunnerError(f"nothing to record: no run yet; start one with `{CLI} run`")
    if last.get("recorded") and (last.get("status"), last.get("description")) == (status_word, description):
        return _already_recorded(cfg, last)  # the same call again (retried after a kill): no second row
    if last.get("recorded"):
        raise RunnerError(
            f"the last run ({str(last.get('commit'))[:7]}) is already recorded as {last.get('status')}"
            + (" (an interrupted record of it was just completed)" if finished else "")
            + ": run the next experiment first"
        )
    outcome = last.get("outcome")
    if outcome == oc.LOST:
        raise RunnerError(
            f"the run of {str(last.get('commit'))[:7]} was lost on the cluster, never measured: resubmit it "
            f"(`{CLI} submit --hold {str(last.get('commit'))[:7]}`, then `{CLI} wait`) and record that job"
        )
    if status_word == "keep":
        if outcome != "ok":
            instead = "discard (its attested value is recorded)" if outcome == oc.MISMATCH else "crash"
            raise RunnerError(f"cannot keep a run that ended {outcome}: record it as {instead}")
        if not last.get("comparable"):
            why = last.get("not_comparable_reason") or "its time budget differs"
            raise RunnerError(f"cannot keep a non-comparable run ({why}): record it as discard")
    if status_word == "discard" and outcome not in (oc.OK, oc.MISMATCH):
        raise RunnerError(f"the run ended {outcome} with no trustworthy metric: record it as crash")
    if job_id and status_word == "keep":
        _check_job_keep(cfg, st, last)

    commit = last["commit"]
    wanted = ledger.recorded_row(
        commit, outcome, last.get("val_bpb"), last.get("memory_gb"), status_word, description
    )
    try:
        rows_before = len(ledger.read_rows(cfg.results_path))
    except ledger.LedgerError as exc:
        raise RunnerError(str(exc)) from None
    s = last.get("summary") or {}
    info = status.collect(cfg)
    noise_now = {k: info["noise"][k] for k in ("sigma", "n", "source")}
    intent = {
        "id": f"{commit[:12]}-{os.urandom(4).hex()}",  # one per attempt: the journal replays it
        "job": job_id,
        "merges": list(last.get("merges") or []) if job_id else [],
        "best_before": st.get("incumbent_commit") or st.get("baseline_commit"),
        "commit": commit,
        "base_commit": last.get("base_commit") or commit,
        "status": status_word,
        "description": description,
        "row": list(wanted),
        "rows_before": rows_before,
        "noise": noise_now,
        "sidecar": {
            "tag": st.get("tag"),
            "job": job_id,
            "commit": commit,
            "base_commit": last.get("base_commit"),
            "status": status_word,
            "description": description,
            "outcome": outcome,
            "reason": last.get("reason"),
            "val_bpb": last.get("val_bpb"),
            "reported_val_bpb": last.get("reported_val_bpb"),
            "attested": bool(last.get("attested")),
            "attestation": last.get("attestation"),
            "replicates": last.get("replicates") or [],
            "memory_gb": wanted.memory_gb,
            "seconds": {k: s.get(k) for k in ("training_seconds", "total_seconds")},
            "wall_seconds": last.get("wall_seconds"),
            "steps": s.get("num_steps"),
            "tokens_M": s.get("total_tokens_M"),
            "device": s.get("device"),
            "device_type": last.get("device_type"),  # the GPU model a remote job ran on (raybackend)
            "time_budget": s.get("time_budget"),
            "comparable": last.get("comparable"),
            "not_comparable_reason": last.get("not_comparable_reason"),
            "suggestion": last.get("suggestion"),
            "noise": info["noise"],
            "started_at": last.get("started_at"),
            "finished_at": last.get("finished_at"),
            "exit_code": last.get("exit_code"),
        },
    }
    fsutil.atomic_write(cfg.record_intent_path, json.dumps(intent, default=str).encode("utf-8"))
    _fault_point("intent")
    return _apply_intent(cfg, intent)


def _unrecorded_jobs(cfg) -> list[str]:
    from . import jobs

    return [j.id for j in jobs.unrecorded(cfg)]


def _check_job_keep(cfg, st: dict, last: dict) -> None:
    """A worktree job's keep moves the checkout to its commit: only from the best it was based on."""
    root, commit = cfg.root, last["commit"]
    best = st.get("incumbent_commit") or st.get("baseline_commit")
    base = last.get("base_commit")
    if best and best != commit and not gitutil.is_ancestor(root, best, commit):
        raise RunnerError(
            f"the best moved to {best[:7]} since {commit[:7]} was submitted (its base {str(base)[:7]}): "
            f'record it as discard "<idea> (near-miss)", then re-base it: git cherry-pick {commit[:7]}, '
            "commit and submit"
        )
    head = gitutil.try_rev_parse(root, "HEAD")
    if head not in (best, commit):
        raise RunnerError(
            f"HEAD is {str(head)[:7]}, not the best {str(best)[:7]}: the keep moves the checkout to "
            f"{commit[:7]}; submit or drop that commit first (`{CLI} status` lists the jobs)"
        )
    dirty = [f for f in gitutil.dirty_tracked_files(root) if not f.startswith(cfg.state_dir)]
    if dirty and head != commit:
        raise RunnerError(
            f"uncommitted changes in {', '.join(dirty[:3])}: commit them (and submit) or drop them "
            f"(git checkout -- {' '.join(dirty[:3])}) before keeping {commit[:7]}"
        )


def _mark_jobs_recorded(cfg, intent: dict) -> None:
    from . import jobs

    for job_id in [intent["job"], *intent.get("merges", [])]:
        try:
            job = jobs.load(cfg, job_id)
        except jobs.JobError:
            continue
        if job.run is not None and job.run.get("record_id") != intent["id"]:
            job.recorded = True
            job.run.update(
                recorded=True,
                status=intent["status"],
                description=intent["description"],
                next=None,
                record_id=intent["id"],
            )
            jobs.save(cfg, job)


def _already_recorded(cfg, last: dict) -> dict:
    rid = last.get("record_id")
    done = [r for r in ledger.read_records(cfg.sidecar_path) if rid and r.get("record_id") == rid]
    record = done[-1] if done else {}
    return {
        "status": last["status"],
        "commit": str(last["commit"])[:7],
        "val_bpb": record.get("val_bpb") if record.get("val_bpb") is not None else 0.0,
        "memory_gb": record.get("memory_gb") or 0.0,
        "description": last["description"],
        "row_line": record.get("row_line"),
        "results_file": str(cfg.results_path),
        "reset": "already recorded exactly so: nothing more to do",
        "head": (gitutil.head_commit(cfg.root) or "")[:7],
        "next": status.collect(cfg)["next"],
    }


def _apply_intent(cfg, intent: dict) -> dict:
    """Take each step of a journaled record not done yet (each one checks first), then drop the intent."""
    root, commit, word, rid = cfg.root, intent["commit"], intent["status"], intent["id"]
    wanted = ledger.Row(*intent["row"])
    line = ledger.format_row(*wanted[:5])
    try:
        rows = ledger.read_rows(cfg.results_path)
        before = intent["rows_before"]
        if len(rows) > before and ledger.format_row(*rows[before][:5]) == line:
            row = rows[before]  # written before the interruption
        else:
            row = ledger.append_row(cfg.results_path, wanted)
    except ledger.LedgerError as exc:
        raise RunnerError(str(exc)) from None
    _fault_point("row")

    if not any(r.get("record_id") == rid for r in ledger.read_records(cfg.sidecar_path)):
        ledger.append_record(
            cfg.sidecar_path,
            {**intent["sidecar"], "recorded_at": state.now_iso(), "record_id": rid, "row_line": row.line_no},
        )
    _fault_point("sidecar")

    tag = intent["sidecar"].get("tag") or "night"
    try:  # before any reset: the experiment's code stays reachable (the report shows its diff)
        gitutil.git(root, "update-ref", gitutil.night_ref(tag, commit), commit)
    except gitutil.GitError as exc:
        raise RunnerError(f"row written, but keeping the commit reachable failed: {exc}") from None
    _fault_point("ref")

    st = _load_state(cfg)
    last = st.get("last_run") or {}
    if intent.get("job"):
        _mark_jobs_recorded(cfg, intent)
        if word == "keep":
            st["incumbent_commit"] = commit
        elif commit not in _artifact_commits(cfg, st):
            attest.remove_artifact(attest.artifact_path(cfg, commit))
        st["noise"] = intent["noise"]
        state.save(cfg, st)
    elif last.get("record_id") != rid and last.get("commit") == commit:
        last.update(recorded=True, status=word, description=intent["description"], next=None, record_id=rid)
        if word == "keep":
            st["incumbent_commit"] = commit
        elif commit not in _artifact_commits(cfg, st):  # only the baseline and the keeps keep their model
            attest.remove_artifact(attest.artifact_path(cfg, commit))
        st["noise"] = intent["noise"]
        state.save(cfg, st)
    _fault_point("state")

    base = intent["base_commit"]
    head = gitutil.head_commit(root) or gitutil.try_rev_parse(root, "HEAD")
    reset = None
    if intent.get("job") and word == "keep" and head != commit:
        if head in (base, intent.get("best_before")):
            try:
                gitutil.reset_hard(root, commit)  # a fast-forward: the job's commit descends from HEAD
            except gitutil.GitError as exc:
                raise RunnerError(f"row written, but moving to the new best failed: {exc}") from None
            reset = f"moved the checkout to {commit[:7]}, the new best"
        else:
            head7 = str(head)[:7]
            reset = f"HEAD is {head7}, not {base[:7]}: did nothing (by hand: git reset --hard {commit[:7]})"
    elif intent.get("job") and head != commit:
        reset = f"nothing to reset: job {intent['job']} ran in its own worktree; HEAD stays {str(head)[:7]}"
    elif word in ("discard", "crash"):
        if base == commit:
            reset = "nothing to reset: the run was on the base commit itself"
        elif head == base:
            reset = f"reset to {base[:7]} (the base commit when the run started)"
        elif head != commit:
            reset = (
                f"HEAD is {str(head)[:7]}, not the run's commit {commit[:7]}: did nothing (reset by hand?)"
            )
        else:
            try:
                gitutil.reset_hard(root, base)
            except gitutil.GitError as exc:
                raise RunnerError(f"row written, but the reset failed: {exc}") from None
            reset = f"reset to {base[:7]} (the base commit when the run started)"
    _fault_point("reset")
    cfg.record_intent_path.unlink(missing_ok=True)
    return {
        "status": word,
        "commit": commit[:7],
        "val_bpb": wanted.val_bpb,
        "memory_gb": wanted.memory_gb,
        "description": intent["description"],
        "row_line": row.line_no,
        "results_file": str(cfg.results_path),
        "reset": reset,
        "head": (gitutil.head_commit(root) or "")[:7],
        "next": status.collect(cfg)["next"],
    }


def format_record(r: dict) -> str:
    lines = [
        f"recorded: {r['commit']}\t{r['val_bpb']:.6f}\t{r['memory_gb']:.1f}\t{r['status']}\t"
        f"{r['description']}"
        f"  (results.tsv line {r['row_line']})"
    ]
    if r["reset"]:
        lines.append(f"git: {r['reset']}")
    lines.append(f"next: {r['next']}")
    return "\n".join(lines)
