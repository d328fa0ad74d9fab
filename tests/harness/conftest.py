"""Fixtures for the harness tests; the helpers live in harness_helpers.py."""

from __future__ import annotations

import pytest
from harness_helpers import load_prepare


@pytest.fixture
def prep(embedded_cache, monkeypatch):
    """The prepare module bound to the session's embedded cache."""
    monkeypatch.setenv("AUTORESEARCH_CACHE", str(embedded_cache))
    return load_prepare(embedded_cache)
