"""Helpers for the harness tests (imported by name, never from `conftest`, so test folders cannot collide).

prepare.py reads AUTORESEARCH_CACHE at import, so each test reloads it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_prepare(cache: Path):
    """prepare.py imported fresh against `cache` (module constants come from that cache's manifest)."""
    old = os.environ.get("AUTORESEARCH_CACHE")
    os.environ["AUTORESEARCH_CACHE"] = str(cache)
    try:
        import prepare

        return importlib.reload(prepare)
    finally:  # CACHE_DIR is bound at import: do not leak the variable into other tests
        if old is None:
            del os.environ["AUTORESEARCH_CACHE"]
        else:
            os.environ["AUTORESEARCH_CACHE"] = old


def run_script(args, cache: Path, timeout=300, **env):
    full_env = {**os.environ, "AUTORESEARCH_CACHE": str(cache), **{k: str(v) for k, v in env.items()}}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
