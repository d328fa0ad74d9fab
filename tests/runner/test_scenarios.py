"""Every outcome class: real git repo, the real CLI, a fake train.py per scenario; no process survives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from runner_helpers import CLI, REPO_ROOT, clean_env, make_night

HANG = """\
import time
print("step 00000 (0.0%) | loss 4.000000 | lr 1.000", flush=True)
time.sleep(600)
"""

# The leader and two generations of descendants all ignore SIGTERM; their pids go to pids.txt.
STUBBORN = """\
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
depth = int(sys.argv[1]) if len(sys.argv) > 1 else 0
with open("pids.txt", "a") as fh:
    fh.write(f"{os.getpid()}\\n")
if depth < 2:
    subprocess.Popen([sys.executable, __file__, str(depth + 1)])
print(f"step {depth:05d} | loss 3.0", flush=True)
time.sleep(600)
"""

EXCEPTION = """\
print("step 00000 (0.0%) | loss 4.000000")
def forward(x):
    raise ValueError("shapes (3, 4) and (5, 6) do not align")
forward(1)
"""

NAN = """\
import time
for step in range(5):
    print(f"step {step:05d} | loss {'nan' if step == 3 else 3.5}", flush=True)
    time.sleep(0.05)
time.sleep(600)  # the supervisor must not wait for this
"""

EXPLODE = """\
import time
for step, loss in enumerate([3.0, 9.0, 250.0]):
    print(f"step {step:05d} | loss {loss:.6f}", flush=True)
time.sleep(600)
"""

FAIL_FAST = """\
import sys
print("step 00000 | loss 3.0")
print("FAIL: loss is nan at step 57")
sys.exit(1)
"""

CUDA_OOM = """\
print("step 00000 | loss 4.0")
raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)")
"""

HOST_OOM = """\
import os, signal
print("step 00000 | loss 4.0", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

NO_METRIC = """\
print("step 00000 | loss 4.0")
print("done, but forgot the summary")
"""

LEAVES_WORKER = """\
import subprocess, sys
code = "import time, os; open('worker.pid', 'w').write(str(os.getpid())); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", code])
import time; time.sleep(0.5)
sys.path.insert(0, {lib!r})
from autoresearch.summary import format_summary
print(format_summary(dict(val_bpb=1.4, training_seconds=0.1, total_seconds=0.2, peak_vram_mb=2048.0,
    peak_rss_mb=100.0, num_steps=1, device="cpu", time_budget=300)))
"""


def _survivors(pids):
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _run_scenario(tmp_path, body, timeout=20, env=None):
    night = make_night(tmp_path, timeout=timeout, grace=1)
    assert night.cli("setup").returncode == 0
    night.train(body, "scenario")
    proc, verdict = night.json("run", env=env)
    return night, proc, verdict


@pytest.mark.slow
def test_ok_run_prints_short_verdict(tmp_path):
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    proc = night.cli("run")
    assert proc.returncode == 0, proc.stderr
    assert "run: ok" in proc.stdout and "val_bpb: 1.500000" in proc.stdout
    assert "peak memory 1.5 GB" in proc.stdout  # CPU run: vram 0 -> peak RSS 1536 MB
    assert len(proc.stdout.splitlines()) <= 8
    assert night.state()["in_flight"] is None
    assert night.state()["last_run"]["outcome"] == "ok"


@pytest.mark.slow
def test_exception_is_crash_with_last_line(tmp_path):
    night, proc, v = _run_scenario(tmp_path, EXCEPTION)
    assert proc.returncode == 1
    assert v["outcome"] == "crash"
    assert v["reason"] == "ValueError: shapes (3, 4) and (5, 6) do not align"
    assert v["suggestion"] == "crash" and "record crash" in v["next"]
    assert any("Traceback" in line for line in v["log_tail"])


@pytest.mark.slow
@pytest.mark.parametrize("body", [NAN, EXPLODE])
def test_nan_or_exploding_loss_stops_early(tmp_path, body):
    night, proc, v = _run_scenario(tmp_path, body, timeout=60)
    assert v["outcome"] == "diverged", v  # without the early stop the 600 s sleep would end as "timeout"
    assert "stopped early" in v["reason"]


@pytest.mark.slow
def test_fail_line_is_diverged(tmp_path):
    night, proc, v = _run_scenario(tmp_path, FAIL_FAST)
    assert v["outcome"] == "diverged" and "loss is nan at step 57" in v["reason"]


@pytest.mark.slow
def test_hang_times_out(tmp_path):
    night, proc, v = _run_scenario(tmp_path, HANG, timeout=2)
    assert v["outcome"] == "timeout" and "hard wall-clock" in v["reason"]
    assert night.state()["in_flight"] is None


@pytest.mark.slow
def test_grandchildren_ignoring_sigterm_are_killed(tmp_path):
    night, proc, v = _run_scenario(tmp_path, STUBBORN, timeout=3)
    assert v["outcome"] == "timeout"
    pids = [int(x) for x in (night.root / "pids.txt").read_text().split()]
    assert len(pids) == 3  # leader, child, grandchild
    assert _survivors(pids) == []


# A double-forked `setsid` daemon: it leaves train.py's group and session, and its parent exits at once.
DAEMON = """\
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("daemon.pid.tmp", "w").write(str(os.getpid()))
        os.replace("daemon.pid.tmp", "daemon.pid")
        time.sleep(300)
    os._exit(0)
os.wait()
while not os.path.exists("daemon.pid"):
    time.sleep(0.01)
"""


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["ok", "timeout"])
def test_a_double_forked_setsid_daemon_is_gone_when_the_run_ends(tmp_path, ok_train, ending):
    body = DAEMON + (ok_train if ending == "ok" else HANG)
    night, proc, v = _run_scenario(tmp_path, body, timeout=3)
    assert v["outcome"] == ending, v["reason"]
    daemon = int((night.root / "daemon.pid").read_text())
    assert _survivors([daemon]) == [], "the daemon outlived its run"


@pytest.mark.slow
def test_cuda_oom_message(tmp_path):
    night, proc, v = _run_scenario(tmp_path, CUDA_OOM)
    assert v["outcome"] == "oom" and "CUDA out of memory" in v["reason"]


@pytest.mark.slow
def test_a_successful_run_that_logged_an_allocation_warning_is_ok(tmp_path, ok_train):
    """The exit code decides first: a harmless "Cannot allocate memory" line in a run that exits 0."""
    body = 'print("warning: Cannot allocate memory for the pinned buffer; pageable memory")\n' + ok_train
    night, proc, v = _run_scenario(tmp_path, body)
    assert v["outcome"] == "ok", v["reason"]
    assert night.cli("record", "keep", "baseline").returncode == 0


def test_one_default_for_the_hard_timeout():
    """config.py's default is the value pyproject.toml and the docs state (inside the Bash tool's 600 s)."""
    import tomllib

    from autoresearch import config

    table = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["autoresearch"]
    assert config.Config.hard_timeout_seconds == table["hard_timeout_seconds"] == 570


@pytest.mark.slow
def test_sigkill_without_traceback_is_host_oom(tmp_path):
    night, proc, v = _run_scenario(tmp_path, HOST_OOM)
    assert v["outcome"] == "oom" and "SIGKILL" in v["reason"]


@pytest.mark.slow
def test_no_metric(tmp_path):
    night, proc, v = _run_scenario(tmp_path, NO_METRIC)
    assert v["outcome"] == "metric-missing"


@pytest.mark.slow
def test_finished_run_leaves_no_worker(tmp_path, ok_train):
    from runner_helpers import REPO_ROOT

    night, proc, v = _run_scenario(tmp_path, LEAVES_WORKER.format(lib=str(REPO_ROOT / ".claude" / "lib")))
    assert v["outcome"] == "ok" and v["memory_gb"] == 2.0
    assert _survivors([int((night.root / "worker.pid").read_text())]) == []


@pytest.mark.slow
def test_tampered_prepare_refuses_to_run(tmp_path):
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    night.write("train.py", "open('ran.txt', 'w').write('yes')\n")
    night.commit("touch", "train.py")
    (night.root / "prepare.py").write_text("TIME_BUDGET = 3000\n")  # the agent "fixes" the harness
    proc, v = night.json("run")
    assert proc.returncode == 1
    assert v["outcome"] == "tampered" and "prepare.py changed since setup" in v["reason"]
    assert "git checkout" in v["next"] and "prepare.py" in v["next"]
    assert not (night.root / "ran.txt").exists()
    assert night.cli("record", "keep", "x").returncode == 1


@pytest.mark.slow
def test_budget_override_is_not_comparable_and_never_kept(tmp_path):
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    proc, v = night.json("run", env=clean_env(AUTORESEARCH_TIME_BUDGET="5"))
    assert v["outcome"] == "ok" and v["comparable"] is False
    assert any("not comparable" in n for n in v["notes"])
    refused = night.cli("record", "keep", "short budget")
    assert refused.returncode == 1 and "non-comparable" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_training_far_above_budget_is_not_comparable(tmp_path):
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    proc, v = night.json("run", env=clean_env(FAKE_TRAIN_S="900"))
    assert v["comparable"] is False and "far above" in " ".join(v["notes"])


def _start_run(night, env=None, *args):
    return subprocess.Popen(
        [sys.executable, str(CLI), "run", *args],
        cwd=night.root,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running_job(night, deadline_s=15):
    """The job record once its supervisor has started train.py."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for path in (night.root / ".autoresearch" / "jobs").glob("*.json"):
            job = json.loads(path.read_text())
            if job["state"] == "running" and (night.state().get("in_flight") or {}).get("pid"):
                return job
        time.sleep(0.05)
    raise AssertionError("no job reached `running`")


def _wait_for_pids(night, count, deadline_s=15):
    pids_file = night.root / "pids.txt"
    deadline = time.monotonic() + deadline_s
    while (
        time.monotonic() < deadline
        and len(pids_file.read_text().split() if pids_file.exists() else []) < count
    ):
        time.sleep(0.1)
    return [int(x) for x in pids_file.read_text().split()]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_cli_loses_no_run(tmp_path, sig):
    """What the Bash tool's limit, or a closed terminal, does to `run`: the CLI dies, the job does not."""
    night = make_night(tmp_path, timeout=60)
    assert night.cli("setup").returncode == 0
    cli = _start_run(night, clean_env(FAKE_SLEEP="3"))
    job = _running_job(night)
    cli.send_signal(sig)
    out, err = cli.communicate(timeout=30)
    if sig == signal.SIGTERM:  # it says how to pick the verdict up
        assert cli.returncode == 1 and f"wait {job['id']}" in err, err
    waited = night.cli("wait", job["id"], "--json")
    assert waited.returncode == 0, waited.stderr
    (done,) = json.loads(waited.stdout)["done"]
    assert done["verdict"]["outcome"] == "ok" and done["verdict"]["commit"] == night.head()[:7]
    recorded = night.cli("record", "keep", "baseline")
    assert recorded.returncode == 0, recorded.stderr
    rows = (night.root / "results.tsv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].endswith("\tkeep\tbaseline")
    supervisor = done["supervisor_pid"]
    assert _survivors([supervisor]) == [], "the supervisor outlived its job"


@pytest.mark.slow
def test_sigterm_to_the_supervisor_kills_the_group(tmp_path):
    night = make_night(tmp_path, timeout=60)
    assert night.cli("setup").returncode == 0
    night.train(STUBBORN, "stubborn")
    cli = _start_run(night, None, "--json")
    job = _running_job(night)
    pids = _wait_for_pids(night, 3)
    os.kill(job["supervisor_pid"], signal.SIGTERM)  # what a cluster's scheduler or `kill` does to it
    out, err = cli.communicate(timeout=30)
    assert cli.returncode == 1
    assert "SIGTERM" in out and '"timeout"' in out, out + err
    assert _survivors(pids) == []
    assert night.state()["in_flight"] is None


@pytest.mark.slow
def test_sigkilled_supervisor_is_cleaned_up_by_next_run(tmp_path):
    night = make_night(tmp_path, timeout=60)
    assert night.cli("setup").returncode == 0
    night.train(STUBBORN, "stubborn")
    cli = _start_run(night)
    job = _running_job(night)
    pids = _wait_for_pids(night, 3)
    os.kill(job["supervisor_pid"], signal.SIGKILL)  # no chance to clean up: the group is orphaned
    cli.communicate(timeout=30)
    try:
        assert _survivors(pids)
        status = night.cli("status")
        assert "interrupted" in status.stdout, status.stdout
        night.train("print('no summary')\n", "next try")
        proc, v = night.json("run")
        assert any("cleaned up an interrupted run" in n for n in v["notes"]), v
        assert _survivors(pids) == []
    finally:
        for pid in _survivors(pids):  # never leave a failed test's processes behind
            os.kill(pid, signal.SIGKILL)


def test_no_stray_processes_from_this_module():
    me = psutil.Process(os.getpid())
    assert [p for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE] == []


FLOOD = """\
import os, sys
sys.path.insert(0, {lib!r})
from autoresearch.summary import format_summary
for step in range(5000):
    print(f"step {{step:05d}} | loss {{4.0 - step * 1e-4:.6f}} | lr 1.000 | dt 5ms " + "x" * 500)
print(format_summary(dict(val_bpb=1.5, training_seconds=0.1, total_seconds=0.2, peak_vram_mb=0.0,
    peak_rss_mb=10.0, num_steps=5000, device="cpu", time_budget=300)))
"""


@pytest.mark.slow
def test_run_log_is_bounded_and_the_full_output_is_kept(tmp_path):
    """Even `cat run.log` cannot flood: it holds the last lines and the summary; the rest is kept aside."""
    night, proc, v = _run_scenario(tmp_path, FLOOD.format(lib=str(REPO_ROOT / ".claude" / "lib")))
    assert v["outcome"] == "ok", v["reason"]
    lines = (night.root / "run.log").read_text().splitlines()
    assert len(lines) <= 1 + 50 + 20 and all(len(line) <= 240 for line in lines)
    cut = lines.index("---")
    assert lines[cut + 1].startswith("val_bpb:") and lines[-1].startswith("time_budget:")
    assert lines[cut - 1].startswith("step 04999") and cut - 1 == 50  # header + the last 50 lines
    full = night.root / lines[0].split(": ", 1)[1]
    assert full.is_file() and full.read_text().count("\nstep ") == 4999  # every line of the run
    seed_grep = ["grep", "^val_bpb:\\|^peak_vram_mb:", "run.log"]
    grep = subprocess.run(seed_grep, cwd=night.root, capture_output=True)
    assert grep.stdout.decode().splitlines() == ["val_bpb:          1.500000", "peak_vram_mb:     0.0"]
