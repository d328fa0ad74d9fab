"""Fixtures for the attestation tests; the helpers live in attest_helpers.py."""

from __future__ import annotations

import pytest
from attest_helpers import make_project


@pytest.fixture
def project(tmp_path, embedded_cache):
    """A set-up night on a real copy of the pack (setup done, no run yet)."""
    proj = make_project(tmp_path, embedded_cache)
    proc = proj.cli("setup", "--tag", "attest")
    assert proc.returncode == 0, proc.stderr
    return proj
