"""The runner finds and signals processes by the pids of its own namespace, even when /proc is an outer one's.

Claude Code's sandbox can run commands in a pid namespace whose /proc is the outer namespace's (measured:
/proc/self 14, getpid() 7). `unshare --pid --fork` without --mount-proc makes the same situation for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time

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
    print("ready", flush=True)
    sys.stdin.readline()  # the test starts a sibling namespace now: its host pids come after ours
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


def _unshare(*argv, **kw):
    return subprocess.Popen(["unshare", "--pid", "--fork", *argv], text=True, **kw)


def test_a_foreign_proc_is_translated_into_this_namespace():
    if shutil.which("unshare") is None:
        pytest.skip("util-linux `unshare` is not installed")
    probe = _unshare(
        sys.executable, "-c", PROBE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if probe.stdout.readline().strip() != "ready":
        err = probe.communicate(timeout=30)[1]
        if "Operation not permitted" in err:
            pytest.skip("creating a pid namespace is not permitted here")
        raise AssertionError(err[-2000:])
    # A sibling namespace (another sandboxed Bash call, say) whose pids 1..4 collide with the probe's own.
    sibling = _unshare("sh", "-c", "sleep 60 & sleep 60 & sleep 60 & wait")
    try:
        time.sleep(0.3)
        out, err = probe.communicate("go\n", timeout=60)
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(sibling.pid)])
        sibling.kill()
        sibling.wait()
    assert probe.returncode == 0, err[-2000:]
    seen = json.loads(out.strip().splitlines()[-1])
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
