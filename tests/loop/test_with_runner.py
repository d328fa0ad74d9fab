"""The loop hooks against state written by the real CLI: setup, a supervised run, record, a run in flight.

train.py here is a stand-in that prints the contract's summary block at once (the real one trains for
5 minutes); everything else (scripts/experiment.py, runner, ledger, hooks) is this checkout's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loop_helpers import REPO_ROOT, Project, git

pytestmark = pytest.mark.skipif(
    not (REPO_ROOT / "scripts" / "experiment.py").is_file(), reason="scripts/experiment.py not written yet"
)

PREPARE = """import sys
TIME_BUDGET = 300
if __name__ == "__main__" and "--check" in sys.argv:
    print("cache ready: test stand-in")
"""

TRAIN = """import os, time
time.sleep(float(os.environ.get("FAKE_TRAIN_SLEEP", "0")))
print("step 00001 (100.0%) | loss 3.000000 | lr 1.000 | dt 1ms | tok/s 1 | epoch 1 | left 0s", flush=True)
summary = dict(val_bpb="%.6f" % float(os.environ.get("FAKE_VAL_BPB", "1.0")), training_seconds="300.0",
               total_seconds="301.0", peak_vram_mb="0.0", peak_rss_mb="1024.0", mfu_percent="0.00",
               total_tokens_M="1.0", num_steps="1", num_params_M="1.0", depth="2", device="cpu",
               time_budget="300")
print("---")
for key, value in summary.items():
    print(f"{key + ':':<18}{value}")
"""


@pytest.fixture
def cli_project(tmp_path: Path) -> Project:
    root = tmp_path / "night"
    root.mkdir()
    git(root, "init", "-q", "-b", "master")
    for rel in ("pyproject.toml", ".gitignore", "scripts/experiment.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, root / rel)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sub in ("hooks", "lib"):
        shutil.copytree(REPO_ROOT / ".claude" / sub, root / ".claude" / sub, ignore=ignore)
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN)
    pyproject = root / "pyproject.toml"  # the stand-in has no model to attest (tests/attest covers that)
    text = pyproject.read_text().replace("[tool.autoresearch]\n", "[tool.autoresearch]\nattest = false\n", 1)
    assert "attest = false" in text
    pyproject.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "baseline")
    return Project(root)


def cli(project: Project, *args: str, **env) -> dict:
    full_env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project.root), **env}
    proc = subprocess.run(
        [sys.executable, "scripts/experiment.py", *args, "--json"],
        cwd=project.root,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_night_driven_by_the_real_cli(cli_project):
    p = cli_project
    assert p.stop() is None  # nothing set up yet: an ordinary stop

    cli(p, "setup", "--tag", "t1", "--baseline-repeats", "1")
    assert git(p.root, "rev-parse", "--abbrev-ref", "HEAD") == "autoresearch/t1"
    reason = p.stop()["reason"]
    assert "baseline 0/1 measured" in reason and "uv run scripts/experiment.py run" in reason

    cli(p, "run")
    reason = p.stop(active=True)["reason"]
    assert "uv run scripts/experiment.py record keep" in reason  # the runner's own `next`, named by the hook

    cli(p, "record", "keep", "baseline")
    reason = p.stop(active=True)["reason"]
    assert "form the next hypothesis" in reason
    assert "1 row in results.tsv" in reason

    context = p.session_start("compact")
    assert "branch autoresearch/t1" in context and "row: " in context and "\tbaseline" in context

    # a run in flight: the runner is alive while train.py sleeps
    p.commit_change("lr 0.05")
    runner = subprocess.Popen(
        [sys.executable, "scripts/experiment.py", "run"],
        cwd=p.root,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(p.root), "FAKE_TRAIN_SLEEP": "60"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (json.loads(p.cfg.state_file.read_text()).get("in_flight")):
            time.sleep(0.1)
        reason = p.stop(active=True)["reason"]
        assert "is in flight" in reason and "sleep 60; uv run scripts/experiment.py status" in reason
        assert "in-flight: " in p.session_start("resume") and "running" in p.session_start("resume")
        p.pre_compact("auto")
        (snap,) = p.snapshots()
        assert json.loads((snap / "state.json").read_text())["in_flight"] is not None
    finally:  # the job outlives a signalled CLI, so it is cancelled the way a person would
        job = json.loads(p.cfg.state_file.read_text())["in_flight"]["job"]
        subprocess.run([sys.executable, "scripts/experiment.py", "cancel", job], cwd=p.root, timeout=60)
        runner.wait(timeout=60)

    # the supervisor killed its run and left it for the agent to record
    reason = p.stop(active=True)["reason"]
    assert "record" in reason, reason
    assert "is in flight" not in reason
