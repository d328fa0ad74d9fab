"""The skill frontmatter follows the Agent Skills spec (agentskills.io); the file stays rereadable."""

from __future__ import annotations

import re

import pytest
import yaml
from autoresearch import config
from skilltext import REFERENCES, SKILL_DIR, SKILL_MD, all_skill_texts, split_frontmatter

SPEC_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # lowercase, digits, single inner hyphens
MAX_BODY_LINES = 500
# Claude Code re-attaches an invoked skill after a compaction, but only its first 5,000 tokens: keep the
# whole file well inside that (about 4 characters per token for English prose).
MAX_SKILL_CHARS = 18_000


@pytest.fixture(scope="module")
def parts():
    yaml_text, body = split_frontmatter(SKILL_MD.read_text(encoding="utf-8"))
    meta = yaml.safe_load(yaml_text)
    assert isinstance(meta, dict), "the frontmatter must be a YAML mapping"
    return meta, body


def test_only_spec_fields(parts):
    meta, _ = parts
    assert set(meta) <= SPEC_KEYS, f"fields outside the spec: {sorted(set(meta) - SPEC_KEYS)}"
    assert {"name", "description"} <= set(meta)


def test_name_rules(parts):
    name = parts[0]["name"]
    assert isinstance(name, str) and 1 <= len(name) <= 64
    assert NAME_RE.match(name), f"name {name!r}: lowercase letters, digits and single inner hyphens only"
    assert "--" not in name and not name.startswith("-") and not name.endswith("-")
    assert "anthropic" not in name and "claude" not in name, "reserved words are not allowed in a skill name"
    assert name == SKILL_DIR.name == "ml-experiment-loop"


def test_description_rules(parts):
    description = parts[0]["description"]
    assert isinstance(description, str) and description.strip()
    assert len(description) <= 1024, f"description is {len(description)} characters (max 1024)"
    assert "<" not in description and ">" not in description, "no XML tags (a Skills API rule)"
    # third person, says what and when
    assert not re.match(r"^\s*(I|You|We)\b", description), "write the description in the third person"
    assert re.search(r"\bUse when\b", description), "the description must say when to use the skill"
    for phrase in ("train.py", "overnight", "hyperparameter", "architecture", "fixed time budget"):
        assert phrase in description, f"the description should mention {phrase!r} for discovery"


def test_optional_fields_have_spec_types(parts):
    meta = parts[0]
    if "license" in meta:
        assert isinstance(meta["license"], str) and meta["license"].strip()
    if "compatibility" in meta:
        assert isinstance(meta["compatibility"], str) and 1 <= len(meta["compatibility"]) <= 500
    if "metadata" in meta:
        assert isinstance(meta["metadata"], dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta["metadata"].items())
    if "allowed-tools" in meta:
        assert isinstance(meta["allowed-tools"], str)


def test_body_is_short_enough_to_reread(parts):
    _, body = parts
    lines = body.strip("\n").split("\n")
    assert len(lines) < MAX_BODY_LINES, f"body has {len(lines)} lines (spec guidance: under {MAX_BODY_LINES})"
    size = len(SKILL_MD.read_text(encoding="utf-8"))
    assert size <= MAX_SKILL_CHARS, f"SKILL.md is {size} chars: too long to re-attach whole"


def test_references_are_one_level_deep_and_linked():
    text = SKILL_MD.read_text(encoding="utf-8")
    names = {path.name for path in REFERENCES}
    assert names == {"results-schema.md", "ideas.md", "noise-rule.md", "resuming.md", "waves.md"}
    for name in names:
        assert f"references/{name}" in text or f"`{name}`" in text, f"SKILL.md never points to {name}"
    assert not [p for p in (SKILL_DIR / "references").rglob("*") if p.is_dir()], "references must stay flat"
    for path in REFERENCES:  # spec guidance: a table of contents in references longer than 100 lines
        content = path.read_text(encoding="utf-8")
        if content.count("\n") > 100:
            assert "Contents" in content[:1500], f"{path.name} is long and needs a table of contents"


def test_protocol_sections_present(parts):
    _, body = parts
    for heading in (
        "Phase 1: set-up", "Phase 2: the loop", "Crashes", "When stuck", "What the hooks enforce",
        "Anti-patterns", "Memory protocol",
    ):  # fmt: skip
        assert f"## {heading}" in body, f"SKILL.md lacks the section {heading!r}"
    steps = re.findall(r"^\*\*(\d+)\. ", body, flags=re.M)
    assert steps == [str(i) for i in range(1, 13)], f"the loop must have steps 1..12 in order, got {steps}"


def test_hook_rule_ids_match_the_policy():
    """The skill explains every hook rule by its stable id, and names no rule that does not exist."""
    text = SKILL_MD.read_text(encoding="utf-8")
    named = set(re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.M))
    assert named == set(config.RULE_IDS)


def test_no_node_and_no_foreign_skills():
    for name, text in all_skill_texts().items():
        assert not re.search(r"\bnode\s|\.c?js\b|\bnpx\b", text), f"{name} must not use a Node script"
        for other in re.findall(r"skills/([a-z0-9-]+)", text):
            assert (SKILL_DIR.parent / other / "SKILL.md").is_file(), f"{name}: no skill {other!r}"


def test_config_keys_named_exist():
    """Every [tool.autoresearch] key the skill text names is a real config key."""
    known = {f for f in config.Config.FIELDS} | set(config.NoiseConfig.FIELDS)
    known |= set(config.StopConfig.FIELDS) | set(config.JobsConfig.FIELDS)
    for name, text in all_skill_texts().items():
        for key in (*config.NoiseConfig.FIELDS, "max_experiments", "workers"):
            if key in text:
                assert key in known, f"{name} names unknown config key {key}"
        for table in re.findall(r"\[tool\.autoresearch(?:\.(\w+))?\]", text):
            assert table in ("", "noise", "stop", "jobs"), f"{name} names an unknown config table {table!r}"
