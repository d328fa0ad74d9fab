"""Shared by the memory tests (imported by name; `conftest` is a name several test folders share)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # memory_corpus.py

import memory_corpus as corpus  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / ".claude" / "lib" / "memory" / "memory_search.py"
TODAY = datetime.date.fromisoformat(corpus.TODAY)


def run_cli(
    *args, input=None, env_extra=None, cwd=None, python=sys.executable
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("CLAUDE_PROJECT_DIR", None)
    env.update(env_extra or {})
    return subprocess.run(
        [python, str(CLI), *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO_ROOT,
        timeout=120,
    )


def make_corpus(tmp_path: Path) -> Path:
    """A memory folder holding the fixed corpus (plain helpers, no fixtures: no conftest.py to collide)."""
    folder = tmp_path / "memory"
    corpus.write(folder)
    return folder


cli = run_cli
