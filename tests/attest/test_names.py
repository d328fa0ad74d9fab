"""The outcome classes have one home (autoresearch.outcomes); the docs and the skill use those names."""

from __future__ import annotations

import re

from attest_helpers import REPO_ROOT
from autoresearch import outcomes, runner

SKILL = REPO_ROOT / ".claude" / "skills" / "ml-experiment-loop" / "SKILL.md"
DOC = REPO_ROOT / "docs" / "attestation.md"


def test_the_new_classes_are_named_exactly():
    assert {"leak", "mismatch", "tampered"} <= set(outcomes.OUTCOMES)
    assert outcomes.KEEPABLE == ("ok",)
    assert runner.OUTCOMES is outcomes.OUTCOMES
    assert set(outcomes.MEANING) == set(outcomes.OUTCOMES)


def test_skill_and_docs_name_every_class():
    for path in (SKILL, DOC):
        named = set(re.findall(r"`([a-z-]+)`", path.read_text(encoding="utf-8")))
        missing = [c for c in outcomes.OUTCOMES if c not in named]
        assert not missing, f"{path.name} does not name {missing}"


def test_the_docs_table_has_a_row_per_tested_variant():
    table = DOC.read_text(encoding="utf-8").split("## The table", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    tests = (REPO_ROOT / "tests" / "attest" / "test_attestation.py").read_text(encoding="utf-8")
    assert len(rows) == 7
    for cls in ("ok", "mismatch", "leak", "tampered"):
        assert f"outcomes.{cls.upper()}" in tests
