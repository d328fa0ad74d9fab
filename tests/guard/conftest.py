"""Fixtures for the guard tests; the project builder lives in guard_helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from guard_helpers import make_project


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A project laid out like this repo, with the data files present and ignored."""
    return make_project(tmp_path_factory.mktemp("guarded") / "proj", ignore_data=True)


@pytest.fixture(scope="session")
def unignored_project(tmp_path_factory) -> Path:
    """The same, but .gitignore does not list the data and results.tsv was committed once."""
    return make_project(tmp_path_factory.mktemp("unignored") / "proj", ignore_data=False)
