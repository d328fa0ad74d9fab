"""Fixtures for the loop-hook tests; the helpers live in loop_helpers.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from loop_helpers import BRANCH, REPO_ROOT, Project, git


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "master")
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO_ROOT / ".gitignore", root / ".gitignore")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sub in ("hooks", "lib"):
        shutil.copytree(REPO_ROOT / ".claude" / sub, root / ".claude" / sub, ignore=ignore)
    (root / "train.py").write_text("print('train')\n")
    (root / "prepare.py").write_text("TIME_BUDGET = 300\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "baseline")
    git(root, "checkout", "-qb", BRANCH)
    return Project(root)
