"""Fixtures for the report page: realistic nights built once per session (report_night.py), the browser."""

from __future__ import annotations

import pytest
from report_browser import Browser, require_chromium
from report_night import DIFF_ROW, DIFF_XSS, XSS, XSS_ROW, make_night


@pytest.fixture(scope="session")
def night80(tmp_path_factory):
    """80 experiments (+1 hand row), a description and a diff that carry HTML, one discard whose commit
    is gone, crashes with and without a full log, memory entries."""
    return make_night(
        tmp_path_factory.mktemp("report") / "night",
        experiments=80,
        seed=3,
        descriptions={XSS_ROW: XSS},
        diff_lines={DIFF_ROW: DIFF_XSS},
        hand_rows=1,
        missing_commits=1,
    )


@pytest.fixture(scope="session")
def night1000(tmp_path_factory):
    return make_night(tmp_path_factory.mktemp("report1000") / "night", experiments=1000, seed=11)


@pytest.fixture(scope="module")
def browser():
    binary = require_chromium()
    with Browser(binary, width=1280, height=900) as b:
        yield b
