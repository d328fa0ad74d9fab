"""The processes this one can signal, read from /proc and translated into this process's pid namespace.

Inside Claude Code's sandbox /proc can belong to an outer pid namespace: measured with CI=true, /proc/self
read 14 while os.getpid() was 7. A pid taken from such a /proc and handed to kill() reaches an unrelated
process (the runner once SIGTERMed its own scorer that way). Each /proc/<pid>/status lists a task's ids in
every namespace from the mount's down to the task's own (NSpid, NSpgid); the entry at this process's depth
is the id kill() takes here. Tasks outside this namespace have no entry at that depth and are left out.
"""

from __future__ import annotations

import os
from typing import NamedTuple

PROC = "/proc"


class Proc(NamedTuple):  # not a dataclass: state.py (imported by the hooks) uses this module
    pid: int
    ppid: int  # 0 when the parent is outside this namespace
    pgid: int
    started: int  # clock ticks after boot: tells a reused pid from the same process
    zombie: bool


def _ns_ids(status: str, key: str) -> list[int]:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return [int(v) for v in line.split()[1:]]
    return []


def _read(pid: str) -> tuple[str, list[str]] | None:
    try:
        with open(f"{PROC}/{pid}/status", encoding="utf-8", errors="replace") as fh:
            status = fh.read()
        with open(f"{PROC}/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return status, stat


def is_own() -> bool:
    """Whether /proc/<pid> here means the process kill(pid) reaches (the mount is this pid namespace's)."""
    try:
        return os.readlink(f"{PROC}/self") == str(os.getpid())
    except OSError:
        return False


def own_depth() -> int | None:
    """This process's index in NSpid lists of the mounted /proc; None when /proc cannot say."""
    try:
        me = int(os.readlink(f"{PROC}/self"))
    except (OSError, ValueError):
        return None
    got = _read(str(me))
    if got is None:
        return None
    nspid = _ns_ids(got[0], "NSpid") or [me]
    return len(nspid) - 1 if nspid[-1] == os.getpid() else None


def table() -> dict[int, Proc] | None:
    """Every process visible in this namespace, keyed by the pid kill() takes; None without a usable /proc."""
    depth = own_depth()
    if depth is None:
        return None
    raw = {}
    outer_to_here = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        got = _read(name)
        if got is None:
            continue
        status, stat = got
        nspid = _ns_ids(status, "NSpid") or [int(name)]
        if len(nspid) <= depth:
            continue  # lives outside this namespace
        nspgid = _ns_ids(status, "NSpgid") or [int(stat[2])]
        here = nspid[depth]
        outer_to_here[int(name)] = here
        pgid = nspgid[depth] if len(nspgid) > depth else 0
        raw[here] = (int(stat[1]), pgid, int(stat[19]), stat[0] in ("Z", "X"))
    return {
        pid: Proc(pid, outer_to_here.get(ppid, 0), pgid, started, zombie)
        for pid, (ppid, pgid, started, zombie) in raw.items()
    }


def descendants(pid: int, procs: dict[int, Proc]) -> dict[int, int]:
    """{pid: start ticks} of every live descendant of `pid` in `procs`."""
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = {}, list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        if child in found or child == pid:
            continue
        if not procs[child].zombie:
            found[child] = procs[child].started
        todo.extend(children.get(child, ()))
    return found
