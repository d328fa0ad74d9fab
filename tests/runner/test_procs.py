"""The runner finds and signals processes by the pids of its own namespace, even when /proc is an outer one's.

Claude Code's sandbox can run commands in a pid namespace whose /proc is the outer namespace's (measured:
/proc/self 14, getpid() 7). `unshare --pid --fork` without --mount-proc makes the same situation for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from runner_helpers import REPO_ROOT

LIB = REPO_ROOT / ".claude" / "lib"

# In the namespace: start a child that starts a grandchild, then report what procs and the runner see.
PROBE = textwrap.dedent(
    f"""
    import json, os, subprocess, sys, time
    sys.path.insert(0, {str(LIB)!r})
    from autoresearch import procs, runner, state
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; g = subprocess.Popen(['sleep', '60']); "
         "print(g.pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    grandchild = int(child.stdout.readline())
    decoy = subprocess.Popen(["sleep", "60"])  # not a descendant of `child`: it must survive the kill
    table = procs.table()
    found = runner._descendants(child.pid)
    how = runner.kill_group(child.pid, 2.0, runner._still_running(found, set()), leader=child)
    time.sleep(0.2)
    print(json.dumps({{
        "pid": os.getpid(), "own": procs.is_own(), "depth": procs.own_depth(),
        "self_seen": table.get(os.getpid()) is not None,
        "child": child.pid, "grandchild": grandchild, "found": sorted(found),
        "group": runner._group_pids(child.pid), "how": how,
        "decoy_alive": state.pid_alive(decoy.pid), "child_rc": child.poll(),
    }}))
    decoy.kill()
    """
)


def _in_new_pid_namespace(code: str) -> dict:
    if shutil.which("unshare") is None:
        pytest.skip("util-linux `unshare` is not installed")
    done = subprocess.run(
        ["unshare", "--pid", "--fork", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 and "Operation not permitted" in done.stderr:
        pytest.skip("creating a pid namespace is not permitted here")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_foreign_proc_is_translated_into_this_namespace():
    seen = _in_new_pid_namespace(PROBE)
    assert seen["pid"] == 1 and seen["own"] is False and seen["depth"] == 1, seen
    assert seen["self_seen"], "the table must list this process under the pid getpid() gives"
    assert seen["found"] == [seen["grandchild"]], seen  # the namespace's pids, not the outer /proc's
    assert seen["how"] == "ended on SIGTERM", seen
    assert seen["group"] == [], seen
    assert seen["decoy_alive"], "a process outside the killed tree was signalled"
    assert seen["child_rc"] is not None, seen


def test_on_the_host_the_table_is_the_plain_proc():
    sys.path.insert(0, str(LIB))
    from autoresearch import procs

    assert procs.is_own() and procs.own_depth() == 0
    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        for _ in range(50):
            found = procs.descendants(child.pid, procs.table())
            if found:
                break
            subprocess.run(["sleep", "0.05"])
        (sleeper,) = found
        assert procs.table()[sleeper].ppid == child.pid
    finally:
        subprocess.run(["pkill", "-P", str(child.pid)])
        child.kill()
        child.wait()
