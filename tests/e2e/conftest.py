"""Fixtures of the end-to-end tier: the pinned Claude Code binary and a fresh temp copy of the repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from claude_harness import make_repo_copy, require_cli


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    return require_cli()


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return make_repo_copy(tmp_path)
