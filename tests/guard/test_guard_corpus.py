"""Table-driven corpus: every forbidden call is denied by the expected rule, every allowed one passes."""

from __future__ import annotations

import json
import os

import pytest
from autoresearch import config, policy

from tests.guard.guard_corpus import (
    ALLOWED_BASH,
    ALLOWED_TOOLS,
    FORBIDDEN_BASH,
    FORBIDDEN_TOOLS,
    FORBIDDEN_UNIGNORED_BASH,
)


def bash_payload(root, command, tool="Bash"):
    command = command.replace("{ROOT}", str(root))
    return {
        "session_id": "test-session",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": str(root),
        "permission_mode": "bypassPermissions",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": {"command": command, "description": "corpus case"},
        "tool_use_id": "toolu_01",
    }


def tool_payload(root, tool, tool_input):
    tool_input = dict(tool_input)
    for key in ("file_path", "notebook_path", "path"):
        if key in tool_input and not os.path.isabs(tool_input[key]):
            tool_input[key] = os.path.normpath(
                os.path.join(root, tool_input[key])
            )  # the CLI sends absolute paths
    return {
        "session_id": "test-session",
        "cwd": str(root),
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "toolu_02",
    }


def test_corpus_is_large_enough():
    forbidden = len(FORBIDDEN_BASH) + len(FORBIDDEN_TOOLS) + len(FORBIDDEN_UNIGNORED_BASH)
    allowed = len(ALLOWED_BASH) + len(ALLOWED_TOOLS)
    assert forbidden >= 150, forbidden
    assert allowed >= 100, allowed
    rules = {rule for _, rule in FORBIDDEN_BASH + FORBIDDEN_TOOLS + FORBIDDEN_UNIGNORED_BASH}
    assert rules == set(config.RULE_IDS)


def check_denied(decision, rule):
    assert not decision.allowed, decision
    assert decision.rule == rule, decision
    assert decision.reason.startswith(rule + ":"), decision.reason
    assert decision.reason.count("\n") == 0
    assert decision.reason.rstrip().endswith("."), decision.reason


@pytest.mark.parametrize(("command", "rule"), FORBIDDEN_BASH, ids=[c[:60] for c, _ in FORBIDDEN_BASH])
def test_forbidden_bash(project, command, rule):
    cfg = config.load(project)
    check_denied(policy.evaluate(bash_payload(project, command), cfg), rule)


@pytest.mark.parametrize(
    ("command", "rule"), FORBIDDEN_UNIGNORED_BASH, ids=[c[:60] for c, _ in FORBIDDEN_UNIGNORED_BASH]
)
def test_forbidden_bash_when_data_is_not_ignored(unignored_project, command, rule):
    cfg = config.load(unignored_project)
    check_denied(policy.evaluate(bash_payload(unignored_project, command), cfg), rule)


@pytest.mark.parametrize(
    ("call", "rule"), FORBIDDEN_TOOLS, ids=[f"{t}-{i}" for i, ((t, _), _) in enumerate(FORBIDDEN_TOOLS)]
)
def test_forbidden_tools(project, call, rule):
    cfg = config.load(project)
    check_denied(policy.evaluate(tool_payload(project, *call), cfg), rule)


@pytest.mark.parametrize("command", ALLOWED_BASH, ids=[c[:60] for c in ALLOWED_BASH])
def test_allowed_bash(project, command):
    cfg = config.load(project)
    decision = policy.evaluate(bash_payload(project, command), cfg)
    assert decision.allowed, decision


@pytest.mark.parametrize("call", ALLOWED_TOOLS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(ALLOWED_TOOLS)])
def test_allowed_tools(project, call):
    cfg = config.load(project)
    decision = policy.evaluate(tool_payload(project, *call), cfg)
    assert decision.allowed, decision


def test_the_hooks_cached_config_gives_the_same_verdicts_on_the_whole_corpus(project):
    fresh = config.load(project)
    stored = json.loads(json.dumps(policy.cache_values(fresh)))  # the cache file's round trip
    cached = policy.CachedConfig(str(project), stored)
    payloads = [bash_payload(project, c) for c, _ in FORBIDDEN_BASH] + [
        bash_payload(project, c) for c in ALLOWED_BASH
    ]
    payloads += [tool_payload(project, *call) for call, _ in FORBIDDEN_TOOLS] + [
        tool_payload(project, *call) for call in ALLOWED_TOOLS
    ]
    for payload in payloads:
        a, b = policy.evaluate(payload, fresh), policy.evaluate(payload, cached)
        assert (a.allowed, a.rule, a.reason, a.updated_input) == (
            b.allowed,
            b.rule,
            b.reason,
            b.updated_input,
        )
