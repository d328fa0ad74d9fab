"""run.log stays short whoever wrote it, so no reader (known to the guide or not) can flood the context.

The runner writes run.log bounded itself: one header line, the last `tail_lines` lines of output (each
clipped), the summary block; the complete output goes to .autoresearch/logs/. A run.log written another
way (`uv run train.py > run.log 2>&1` by hand, a copy, a script) is bounded the same way by the hooks:
before every tool call that could read it (PreToolUse) and after every call (the keeper, PostToolUse).
The full text moves to .autoresearch/logs/ first, under a name the header gives. A log that is still being
written (open in some process; without /proc, modified within QUIET_SECONDS) is left until it is done.

Stdlib only: the hooks import it.
"""

from __future__ import annotations

import os
import time

LINE_CHARS = 240  # each kept line is clipped to this
SUMMARY_LINES = 40  # at most this much of the summary block is kept
READ_LIMIT = 1 << 16  # a run.log above this many bytes is never short
QUIET_SECONDS = 2.0  # only where /proc cannot tell whether a writer still holds the file


def clip(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def bounded_text(full_tail: str | None, header: str, tail_lines: int) -> str:
    """One header line, the last `tail_lines` non-empty output lines, then the summary block."""
    from . import summary

    lines = [header]
    if full_tail:
        text = full_tail.splitlines()
        cut = max((i for i, ln in enumerate(text) if ln.strip() == summary.SEPARATOR), default=None)
        block = text[cut:] if cut is not None and summary.parse_summary("\n".join(text[cut:])) else []
        body = [ln for ln in (text[:cut] if block else text) if ln.strip()]
        lines += [clip(ln) for ln in body[-tail_lines:]] + [clip(ln) for ln in block[:SUMMARY_LINES]]
    return "\n".join(lines) + "\n"


def _is_short(data: bytes, tail_lines: int) -> bool:
    lines = data.split(b"\n")
    limit = 1 + tail_lines + SUMMARY_LINES + 1
    return len(lines) <= limit and all(len(ln) <= LINE_CHARS + 8 for ln in lines)


def _held_open(st: os.stat_result) -> bool | None:
    """Whether some process has this file open; None where /proc cannot say (macOS)."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.st_ino == st.st_ino and target.st_dev == st.st_dev:
                return True
    return False


def bound_run_log(cfg, now: float | None = None) -> str | None:
    """Bound a long run.log in place (its full text kept in .autoresearch/logs/); one note, or None.

    `cfg` may be the hook's cached config: the check that almost always ends here reads only
    `root`, `log_file` and `tail_lines` (no pathlib, no parser), the rare cut loads the full one."""
    path = os.path.join(str(cfg.root), cfg.log_file)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not os.path.isfile(path) or os.path.islink(path):
        return None  # a link or a folder is the guide's and the keeper's business, not a log to cut
    if st.st_size <= READ_LIMIT:
        with open(path, "rb") as fh:
            data = fh.read(READ_LIMIT + 1)
        if _is_short(data, cfg.tail_lines):
            return None
    held = _held_open(st)
    now = time.time() if now is None else now
    if held or (held is None and now - st.st_mtime < QUIET_SECONDS):
        return None  # still being written: bounded once its writer is done
    from . import config, fsutil

    full = cfg if isinstance(cfg, config.Config) else config.load(cfg.root)
    full.full_log_dir.mkdir(parents=True, exist_ok=True)
    try:  # parallel tool calls run their hooks at once: one of them cuts, the others find it done
        with fsutil.lock(full.full_log_dir / "run-log.lock", 10):
            return _cut(full, path, st, now)
    except TimeoutError:
        return None


def _cut(full, path: str, st: os.stat_result, now: float) -> str | None:
    try:
        again = os.lstat(path)
    except OSError:
        return None
    if (again.st_ino, again.st_size, again.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
        return None  # another hook cut it (or it changed) since this one looked
    from . import fsutil

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    kept = full.full_log_dir / f"run-log-{stamp}-{st.st_ino}-{os.getpid()}.log"
    os.replace(path, kept)  # no writer holds it: the full text moves aside whole, however long
    with open(kept, "rb") as fh:
        fh.seek(max(0, st.st_size - (1 << 20)))
        tail = fh.read().decode("utf-8", errors="replace")
    rel = os.path.relpath(kept, full.root)
    size = f"{st.st_size / 1024:.0f} KB"
    header = f"# run.log was long ({size}): the last lines and the summary; the full output: {rel}"
    fsutil.atomic_write(path, bounded_text(tail, header, full.tail_lines).encode("utf-8"))
    return (
        f"autoresearch: run.log was {size}; it now holds its last {full.tail_lines} lines and the summary "
        f"(the full text: {rel})."
    )
