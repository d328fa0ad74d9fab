"""Fixtures for the runner tests (helpers live in runner_helpers.py)."""

from __future__ import annotations

import pytest
from runner_helpers import REPO_ROOT, TRAIN_OK, make_night


@pytest.fixture
def night(tmp_path):
    return make_night(tmp_path)


@pytest.fixture
def ok_train():
    return TRAIN_OK.format(lib=str(REPO_ROOT / ".claude" / "lib"))


@pytest.fixture(autouse=True)
def no_process_left_behind(tmp_path):
    """After every test: no live process may still run inside the test's tmp dir (killed, then failed)."""
    yield
    import psutil

    leftovers = []
    for proc in psutil.process_iter(["pid", "cwd", "status"]):
        cwd = proc.info.get("cwd") or ""
        if cwd.startswith(str(tmp_path)) and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            leftovers.append(proc)
    for proc in leftovers:
        try:
            proc.kill()
        except psutil.Error:
            pass
    assert not leftovers, f"processes left behind: {[p.pid for p in leftovers]}"
