"""`.claude/settings.json` registers all four hooks, matches the schema and points at real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / ".claude" / "settings.json"
# The public SchemaStore schema: the team's shared/ copy beside the clone when present, else the copy vendored
# here (same file), so the check never silently skips.
SHARED_SCHEMA = REPO.parent / "shared" / "claude-code-settings.schema.json"
VENDORED_SCHEMA = Path(__file__).with_name("claude-code-settings.schema.json")
SCHEMA = SHARED_SCHEMA if SHARED_SCHEMA.is_file() else VENDORED_SCHEMA
GUARDED_TOOLS = ["Bash", "Monitor", "Edit", "MultiEdit", "Write", "NotebookEdit", "Read", "Grep"]


@pytest.fixture(scope="module")
def settings():
    return json.loads(SETTINGS.read_text())


def test_settings_validate_against_the_claude_code_schema(settings):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(settings, schema)


def test_the_schema_check_would_catch_a_bad_handler(settings):
    import jsonschema

    bad = json.loads(json.dumps(settings))
    bad["hooks"]["PreToolUse"][0]["hooks"][0]["timeout_ms"] = 5000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(SCHEMA.read_text()))


def test_every_event_is_registered_with_the_isolated_interpreter(settings):
    hooks = settings["hooks"]
    assert set(hooks) == {"PreToolUse", "Stop", "SessionStart", "PreCompact"}
    expected = {
        "PreToolUse": "pre_tool_use.py",
        "Stop": "stop.py",
        "SessionStart": "session_start.py",
        "PreCompact": "pre_compact.py",
    }
    for event, script in expected.items():
        (group,) = hooks[event]
        (handler,) = group["hooks"]
        assert handler["type"] == "command"
        assert handler["command"] == f'python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/{script}'
        assert 1 <= handler["timeout"] <= 120, "timeout is in seconds"


def test_every_hook_script_exists(settings):
    # A missing script makes python3 exit 2, which blocks every tool call.
    for groups in settings["hooks"].values():
        for group in groups:
            for handler in group["hooks"]:
                rel = handler["command"].split('"$CLAUDE_PROJECT_DIR"/', 1)[1]
                assert (REPO / rel).is_file(), rel


def test_pre_tool_use_matcher_covers_every_reading_and_writing_tool(settings):
    matcher = settings["hooks"]["PreToolUse"][0]["matcher"]
    assert re.fullmatch(r"[A-Za-z|]+", matcher), "a plain list, not a regex"
    assert set(matcher.split("|")) == set(GUARDED_TOOLS)


def test_session_start_matches_every_source_the_loop_needs(settings):
    matcher = settings["hooks"]["SessionStart"][0]["matcher"]
    assert set(matcher.split("|")) == {"startup", "resume", "compact", "clear"}
