"""A copy of this project in a temp folder, as a night starts from it: the real prepare.py, train.py, CLI,
hooks and library, with a test-sized TIME_BUDGET constant committed before set-up like any harness."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["prepare.py", "train.py", "pyproject.toml", "uv.lock", ".gitignore", ".python-version"]
PROJECT_FILES += ["README.md"]
PROJECT_DIRS = ["scripts", ".claude"]


def _ignore_copy(folder, names):
    """Leave out caches and the untracked night data of the source tree (memory, indexes, locks)."""
    skip = {"__pycache__", ".index", "node_modules", ".pytest_cache", "settings.local.json"}
    if Path(folder).name == "memory":
        return [n for n in names if n.endswith((".md", ".lock", ".db")) and n != "README.md"] + [
            n for n in names if n in skip
        ]
    return [n for n in names if n in skip or n.endswith(".lock")]


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def copy_project(root: Path, budget: int, cache: Path, pyproject_edits: dict[str, str] | None = None) -> dict:
    """Copy the project into `root` and commit it on `master`; returns the environment its commands need.

    `pyproject_edits` replaces whole lines of pyproject.toml (`"workers = 1"`: `"workers = 2"`), each of
    which must exist: the test fails when the key it relies on is renamed."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        if (REPO_ROOT / name).is_file():
            shutil.copy2(REPO_ROOT / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=_ignore_copy)
    prepare = root / "prepare.py"
    text, count = re.subn(
        r"^TIME_BUDGET_SECONDS = \d+", f"TIME_BUDGET_SECONDS = {budget}", prepare.read_text(), flags=re.M
    )
    assert count == 1, "prepare.py lost its TIME_BUDGET_SECONDS constant"
    prepare.write_text(text)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    for old, new in (pyproject_edits or {}).items():
        text, count = re.subn(rf"^{re.escape(old)}(?=\s|$)", new, text, flags=re.M)
        assert count == 1, f"pyproject.toml has no line starting {old!r}"
    pyproject.write_text(text)
    git(root, "init", "-q", "-b", "master")
    git(root, "config", "user.email", "night@example.com")
    git(root, "config", "user.name", "Night")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project, with a test-sized TIME_BUDGET")
    own = ("AUTORESEARCH_", "VIRTUAL_ENV", "UV_", "CLAUDE")  # never the caller's night, venv or session
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        CLAUDE_PROJECT_DIR=str(root),
        AUTORESEARCH_CACHE=str(cache),
        AUTORESEARCH_DEVICE="cpu",
        UV_PROJECT_ENVIRONMENT=sys.prefix,  # reuse this venv: the copy has the same pyproject and lock
        UV_FROZEN="1",
        UV_OFFLINE="1",
        UV_NO_PROGRESS="1",
    )
    return env
