"""Helpers for the runner tests: a real git repo in a tmp dir with a fake prepare.py and train.py.

A uniquely named module (not conftest) so `uv run pytest` over every test folder imports the right one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / "scripts" / "experiment.py"

PYPROJECT = """\
[project]
name = "fake-night"
version = "0"

[tool.autoresearch]
attest = false  # the fake train.py has no model: these tests cover supervision (tests/attest covers scoring)
hard_timeout_seconds = {timeout}
kill_grace_seconds = {grace}
tail_lines = 50

[tool.autoresearch.noise]
baseline_repeats = {repeats}
min_delta = 0.001
sigma_multiplier = 2.0
fallback_sigma = 0.003
"""

PREPARE = """\
import sys
TIME_BUDGET = 300
if "--check" in sys.argv:
    print("cache ready: fake corpus at /tmp/fake")
    sys.exit(0)
"""

# The fake trainer prints the real output contract; VAL_FILE lets one test feed a sequence of val_bpb values.
TRAIN_OK = """\
import os, sys, time
sys.path.insert(0, {lib!r})
from autoresearch.summary import format_summary
budget = int(os.environ.get("AUTORESEARCH_TIME_BUDGET", "300"))
val = float(os.environ.get("FAKE_VAL", "1.500000"))
vals = os.environ.get("FAKE_VAL_FILE")
if vals and os.path.exists(vals):
    seq = open(vals).read().split()
    val = float(seq[0]); open(vals, "w").write(" ".join(seq[1:]))
print("vocab size 8192 | depth 4")
for step in range(3):
    print(f"step {{step:05d}} ({{step * 33.3:.1f}}%) | loss {{4.0 - step:.6f}} | lr 1.000 | dt 5ms")
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
print(format_summary(dict(val_bpb=val, training_seconds=float(os.environ.get("FAKE_TRAIN_S", "0.1")),
    total_seconds=0.2, peak_vram_mb=0.0, peak_rss_mb=1536.0, mfu_percent=0.0, total_tokens_M=0.1, num_steps=3,
    num_params_M=1.0, depth=4, device="cpu", time_budget=budget)))
"""


def git(root, *args, check=True):
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=check
    ).stdout.strip()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_PROJECT_DIR", "AUTORESEARCH_TIME_BUDGET")}
    env.update(
        {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
    )
    env.update(extra)
    return env


class Night:
    """A temp project: run the real CLI in it, edit files, commit."""

    def __init__(self, root: Path):
        self.root = root

    def cli(self, *args, env=None, timeout=120):
        proc = subprocess.run(
            [sys.executable, str(CLI), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            env=env or clean_env(),
            timeout=timeout,
        )
        return proc

    def json(self, *args, env=None):
        proc = self.cli(*args, "--json", env=env)
        return proc, json.loads(proc.stdout) if proc.stdout.strip() else None

    def write(self, rel, text):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def commit(self, message, *paths):
        git(self.root, "add", *(paths or ["-A"]))
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def head(self):
        return git(self.root, "rev-parse", "HEAD")

    def state(self):
        return json.loads((self.root / ".autoresearch" / "state.json").read_text())

    def train(self, body, message="experiment"):
        self.write("train.py", body)
        return self.commit(message, "train.py")


def make_night(tmp_path: Path, timeout=20, grace=1, repeats=1, train=None, workers=1) -> Night:
    root = tmp_path / "night"
    root.mkdir()
    night = Night(root)
    git(root, "init", "-q", "-b", "master")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@t")
    text = PYPROJECT.format(timeout=timeout, grace=grace, repeats=repeats)
    if workers != 1:
        text += f"\n[tool.autoresearch.jobs]\nworkers = {json.dumps(workers)}\n"
    night.write("pyproject.toml", text)
    night.write("prepare.py", PREPARE)
    night.write("train.py", train or TRAIN_OK.format(lib=str(REPO_ROOT / ".claude" / "lib")))
    night.write(".gitignore", ".claude/context/memory/*.md\n__pycache__/\n")
    night.commit("initial")
    return night
