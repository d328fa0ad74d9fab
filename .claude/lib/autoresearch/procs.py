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


def namespace_id() -> str | None:
    """This process's pid namespace, e.g. `pid:[4026531836]`: a pid recorded under another means nothing."""
    try:
        return os.readlink(f"{PROC}/self/ns/pid")
    except OSError:
        return None


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
    """Every process visible in this namespace, keyed by the pid kill() takes; None without a usable /proc.

    A task belongs when its own namespace is this one, or when its parent belongs (a namespace nested under
    this one). Depth cannot tell: a sibling namespace's tasks (another sandboxed call) list as many ids."""
    depth, mine = own_depth(), namespace_id()
    if depth is None or mine is None:
        return None
    seen = {}  # outer pid -> (outer ppid, nspid, nspgid, stat, same namespace)
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        got = _read(name)
        if got is None:
            continue
        status, stat = got
        nspid = _ns_ids(status, "NSpid") or [int(name)]
        if len(nspid) <= depth:
            continue  # lives in an outer namespace
        try:
            same = os.readlink(f"{PROC}/{name}/ns/pid") == mine
        except OSError:
            same = False
        nspgid = _ns_ids(status, "NSpgid") or [int(stat[2])]
        seen[int(name)] = (int(stat[1]), nspid, nspgid, stat, same)
    inside = {outer for outer, entry in seen.items() if entry[4]}
    grew = True
    while grew:  # nested namespaces: children of tasks already inside
        grew = False
        for outer, entry in seen.items():
            if outer not in inside and entry[0] in inside:
                inside.add(outer)
                grew = True
    here = {outer: seen[outer][1][depth] for outer in inside}
    table = {}
    for outer in inside:
        ppid, _nspid, nspgid, stat, _same = seen[outer]
        pgid = nspgid[depth] if len(nspgid) > depth else 0
        pid = here[outer]
        table[pid] = Proc(pid, here.get(ppid, 0), pgid, int(stat[19]), stat[0] in ("Z", "X"))
    return table


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
