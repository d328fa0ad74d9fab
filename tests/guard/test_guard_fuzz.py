"""Property tests: the reader and the policy never raise, whatever the agent (or a bug) sends."""

from __future__ import annotations

import os

from autoresearch import config, policy, reader, shellparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKENS = list(" \t\n;&|()<>{}[]$`'\"\\#=*?~!-.,/0123456789") + [
    "cat", "run.log", "prepare.py", "echo", "bash -c ", "eval ", "<<EOF\n", "\nEOF\n", "$(", "${",
    "2>&1", "&>", "git add ", "rm -rf ", "sed -i ", "python3 -c ", "find . -exec ", "xargs ", "sudo ",
    "env A=1 ", "tail -n ", "grep -v ", "results.tsv", ".claude/hooks/", "uv run train.py", "$'\\x41'",
    "case x in", "esac",
]  # fmt: skip
SHELLISH = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
TOOLS = st.sampled_from(
    ["Bash", "Monitor", "Read", "Grep", "Edit", "Write", "MultiEdit", "NotebookEdit", "Glob"]
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.text(max_size=200))
def test_reader_never_raises_on_any_text(text):
    result = shellparse.analyse(text, "/tmp")
    assert result.error is None or isinstance(result.error, str)


@FAST
@given(SHELLISH)
def test_reader_never_raises_on_shell_like_text(text):
    result = shellparse.analyse(text, "/tmp")
    for cmd in result.commands:
        assert isinstance(cmd.argv, list)


@FAST
@given(st.text(max_size=40), st.text(max_size=40))
def test_path_helpers_never_raise(pattern, path):
    shellparse.brace_expand(pattern)
    shellparse.glob_prefix_match("/" + pattern, "/" + path)
    shellparse.normalise(pattern.replace("\x00", ""), "/tmp")


@FAST
@given(SHELLISH, st.sampled_from(["Bash", "Monitor"]))
def test_policy_never_raises_on_commands(project, command, tool):
    cfg = config.load(project)
    decision = policy.evaluate(
        {"tool_name": tool, "tool_input": {"command": command}, "cwd": str(project)}, cfg
    )
    assert decision.allowed in (True, False)
    if not decision.allowed:
        assert decision.rule in config.RULE_IDS
        assert decision.reason.startswith(decision.rule + ":")


@FAST
@given(TOOLS, JSON, JSON)
def test_policy_never_raises_on_odd_payloads(project, tool, tool_input, cwd):
    cfg = config.load(project)
    payload = {"tool_name": tool, "tool_input": tool_input, "cwd": cwd}
    if isinstance(tool_input, dict):
        for key in ("file_path", "path", "notebook_path"):
            tool_input.setdefault(key, os.path.join(str(project), "x"))
    decision = policy.evaluate(payload, cfg)
    assert decision.allowed in (True, False)


@FAST
@given(TOOLS, st.text(max_size=30), st.text(max_size=30))
def test_policy_never_raises_on_odd_paths(project, tool, path, cwd):
    cfg = config.load(project)
    tool_input = {
        "command": f"cat {path}; bash {path}",
        "file_path": "/" + path,
        "path": path,
        "pattern": path,
    }
    decision = policy.evaluate({"tool_name": tool, "tool_input": tool_input, "cwd": "/" + cwd}, cfg)
    assert decision.allowed in (True, False)


@FAST
@given(JSON)
def test_policy_never_raises_on_any_payload(project, payload):
    decision = policy.evaluate(payload, config.load(project))
    assert decision.allowed in (True, False)


@given(st.text(alphabet="\"'#\\\nab prepare.py", max_size=60))
def test_python_code_only_never_raises_or_grows(text):
    out = reader._python_code_only(text)
    assert len(out) <= len(text)
