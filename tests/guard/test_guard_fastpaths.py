"""The hook's start-up budget: common tool calls are judged without importing `re` or `json`.

`import json` (which imports `re`) is most of the gap to the 1.5x latency target, so the hook reads
its payload with `hookjson` and the policy answers the protocol's own commands with hand-written
string checks. Each check is pinned here against the regex or stdlib function it stands in for,
and the import test runs the real hook process on the loop's everyday calls.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from autoresearch import hookjson, policy, shellparse
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
HOOK = REPO / ".claude" / "hooks" / "pre_tool_use.py"
TRAIN_HUNK = "".join((REPO / "train.py").read_text(encoding="utf-8").splitlines(keepends=True)[:60])

# The everyday calls of the experiment loop (SKILL.md), as Claude Code sends them.
EVERYDAY = {
    "tail": ("Bash", {"command": "tail -n 50 run.log"}),
    "metric grep": ("Bash", {"command": 'grep "^val_bpb:\\|^peak_vram_mb:" run.log'}),
    "training run": ("Bash", {"command": "uv run train.py > run.log 2>&1"}),
    "supervised run": ("Bash", {"command": "uv run scripts/experiment.py run --json"}),
    "commit": ("Bash", {"command": "git add train.py && git commit -m 'depth 4' && git log --oneline -1"}),
    "reset": ("Bash", {"command": "git reset --hard HEAD~1"}),
    "ledger row": ("Bash", {"command": 'echo -e "a1b2c3d\\t1.85\\t0.0\\tkeep\\tdepth 4" >> results.tsv'}),
    "denied cat": ("Bash", {"command": "cat run.log"}),
    "read train.py": ("Read", {"file_path": str(REPO / "train.py")}),
    "edit train.py": (
        "Edit",
        {"file_path": str(REPO / "train.py"), "old_string": TRAIN_HUNK, "new_string": TRAIN_HUNK + "\n"},
    ),
}
SLOW_MODULES = {"re", "json", "enum", "functools", "collections", "tomllib", "pathlib", "typing"}


def hook_imports(tool, tool_input):
    """Run the real hook once; return (the modules it imported, its stdout)."""
    payload = {"hook_event_name": "PreToolUse", "cwd": str(REPO), "tool_name": tool, "tool_input": tool_input}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", str(HOOK)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(REPO)},
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    return imported, proc.stdout


@pytest.fixture(scope="module")
def cached_config():
    """The first call after a checkout or a config edit reads pyproject.toml (tomllib, pathlib) and writes
    the cache; every later call reads the cache. Make sure this test sees the steady state."""
    imported, _ = hook_imports("Bash", {"command": "true"})
    assert os.path.exists(policy.CACHE_FILE)
    return imported


def test_a_cold_call_reads_the_config_and_a_warm_one_does_not(cached_config):
    os.utime(REPO / "pyproject.toml")  # a human's edit: the cache key (mtime) changes
    cold, _ = hook_imports("Bash", {"command": "true"})
    warm, _ = hook_imports("Bash", {"command": "true"})
    assert "tomllib" in cold and "tomllib" not in warm


@pytest.mark.parametrize("name", sorted(EVERYDAY))
def test_everyday_calls_import_no_slow_module(name, cached_config):
    imported, stdout = hook_imports(*EVERYDAY[name])
    assert "autoresearch.policy" in imported  # the call was really judged
    assert not imported & SLOW_MODULES, f"{name} imported {sorted(imported & SLOW_MODULES)}"
    if name == "denied cat":
        assert json.loads(stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_a_rare_command_still_gets_the_regex_checks():
    """The lazy `re` is only skipped, never lost: python -c code is read with it."""
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK)],
        input=json.dumps(
            {
                "tool_name": "Bash",
                "cwd": str(REPO),
                "tool_input": {"command": "python -c \"open('prep'+'are.py','w')\""},
            }
        ).encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


# --- hookjson against the json module -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_hookjson_round_trips_like_json(value):
    assert hookjson.dumps(value) == json.dumps(value)
    assert hookjson.loads(json.dumps(value)) == value
    assert hookjson.loads(("\n " + json.dumps(value, indent=1) + " \n").encode()) == value


@settings(max_examples=300)
@given(st.text(alphabet='{}[]":,0123456789.eE-+ \ntrufalsnNIinfyx\\u', max_size=20))
def test_hookjson_accepts_and_rejects_what_json_does(text):
    try:
        expected = json.loads(text)
    except ValueError as exc:
        with pytest.raises(ValueError) as caught:
            hookjson.loads(text)
        assert type(caught.value) is type(exc)
    else:
        got = hookjson.loads(text)
        assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("text", ["", "  ", "{", "[1] x", '{"a":1,}', "tru", "\ufeff{}"])
def test_hookjson_raises_a_json_decode_error_on_bad_text(text):
    with pytest.raises(json.JSONDecodeError):
        hookjson.loads(text)


def test_hookjson_bad_utf8_is_a_value_error():
    with pytest.raises(ValueError):
        hookjson.loads(b'{"a": "\xff"}')


def test_hookjson_special_floats_match_json():
    assert hookjson.dumps([math.inf, -math.inf, math.nan]) == json.dumps([math.inf, -math.inf, math.nan])
    assert math.isnan(hookjson.loads("NaN")) and hookjson.loads("-Infinity") == -math.inf
    assert hookjson.dumps({1: "int keys", 2.5: None}) == json.dumps({1: "int keys", 2.5: None})
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        hookjson.dumps({"a": object()})


# --- hand-written string checks against the regexes they replace --------------------------------

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
shell_words = st.text(alphabet="aZ_09=+-$.{}é٣ ", max_size=8)


@given(shell_words, st.integers(0, 8))
def test_name_end_matches_the_name_regex(text, i):
    m = NAME.match(text, i) if i <= len(text) else None
    assert shellparse.name_end(text, i) == (m.end() if m else i)


@given(shell_words)
def test_assignment_and_number_checks_match_their_regexes(text):
    m = ASSIGN.match(text)
    assert shellparse.assignment_end(text) == (m.end() if m else 0)
    assert shellparse.is_uint(text) == bool(re.fullmatch(r"[0-9]+", text))
    assert policy._is_count(text) == bool(re.fullmatch(r"[+-]?[0-9]+", text))
    letters = re.fullmatch(r"-([A-Za-z]+)", text)
    assert shellparse.short_flags(text) == (letters.group(1) if letters else "")


@given(st.text(alphabet="pythonpy3.1é_ip", max_size=10))
def test_interpreter_names_match_their_regexes(name):
    assert policy._is_python(name) == bool(re.fullmatch(r"python[0-9.]*|pypy[0-9.]*", name))
    assert policy._is_versioned_pip(name) == bool(re.fullmatch(r"pip[0-9](\.[0-9]+)?", name))


OLD_WRITE_WORDS = re.compile(
    r"write|open\s*\([^)]*['\"][rb]?[wax+]|unlink|remove|rename|replace|rmtree|copy|move|truncate|chmod|"
    r"system|subprocess|popen|exec|spawn|shutil|touch|mkdir|symlink|[^<]>|\bw\b|sed|print\s*\{|printf\s*>|dump"
)
code_bits = st.lists(
    st.sampled_from(
        ["'", '"', " ", "+", ".", ",", "\t", "\n", "\x1c", "\xa0", "<", ">", "{", "w", "(", ")", "x", "pre",
         "pare.py", "open(", "write", "print", "printf", "sed", "ab", "é"]
    ),
    max_size=14,
).map("".join)  # fmt: skip


@settings(max_examples=500)
@given(code_bits)
def test_code_checks_match_the_regexes_they_replace(text):
    assert policy._writes_files(text) == bool(OLD_WRITE_WORDS.search(text))
    joined = re.sub(r"""(['"])\s*[+.,]?\s*(['"])""", "", text)
    assert policy._join_literals(text) == joined
    for name in ("prepare.py", "pre", "are.py"):
        if name in joined:
            assert policy._may_reveal(text, name)  # the pre-filter never hides a match


def test_the_metric_grep_cannot_match_everything_and_dot_can():
    assert not policy._matches_everything("^val_bpb:\\|^peak_vram_mb:", "bre")
    assert policy._matches_everything("a\\|Z\\|-\\| \\|s\\|F\\|v\\|T", "bre")
    assert policy._matches_everything(".", "bre")


def _regex_matches_everything(pattern, mode, icase, whole_line):
    rx = policy._bre_to_python(pattern) if mode == "bre" else pattern
    compiled = re.compile(rx, re.IGNORECASE if icase else 0)
    match = compiled.fullmatch if whole_line else compiled.search
    return all(match(sample) for sample in policy._SAMPLES)


literal_alternatives = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(["a", "A", "9", "Z9", "-", " ", "val", "---", "T", "e", ":"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=400)
@given(literal_alternatives, st.sampled_from(["bre", "ere"]), st.booleans(), st.booleans())
def test_literal_patterns_are_judged_like_the_regex(alternatives, mode, icase, whole_line):
    joiner = "\\|" if mode == "bre" else "|"
    pattern = joiner.join(("^" if s else "") + text + ("$" if e else "") for s, text, e in alternatives)
    assert policy._literal_alternatives(pattern, mode) is not None
    expected = _regex_matches_everything(pattern, mode, icase, whole_line)
    assert policy._matches_everything(pattern, mode, icase, whole_line) == expected
