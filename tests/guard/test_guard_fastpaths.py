"""The hook's start-up budget: with the shipped sandbox walling its cache, calls skip tomllib and pathlib.

config.load() (tomllib, pathlib) is about 15 ms of a hook whose p95 target is 50 ms, so the policy keeps
the parsed config in a cache, but trusts it only while the settings wall it off from the agent's shell
(policy.cache_is_walled). These tests run the real hook on copies of this checkout with and without that
wall. The policy's hand-written string checks are pinned to the regexes they stand in for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from autoresearch import config, policy, reader, shellparse
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
TRAIN_HUNK = "".join((REPO / "train.py").read_text(encoding="utf-8").splitlines(keepends=True)[:60])
WALL = {
    **policy.WALL_FLAGS,
    "filesystem": {"denyWrite": ["./prepare.py", "./.claude", "./pyproject.toml", "./uv.lock"]},
}


def everyday(root: Path) -> dict:
    """The everyday calls of the experiment loop (SKILL.md), as Claude Code sends them."""
    return {
        "tail": ("Bash", {"command": "tail -n 50 run.log"}),
        "metric grep": ("Bash", {"command": 'grep "^val_bpb:\\|^peak_vram_mb:" run.log'}),
        "training run": ("Bash", {"command": "uv run train.py > run.log 2>&1"}),
        "supervised run": ("Bash", {"command": "uv run scripts/experiment.py run --json"}),
        "commit": (
            "Bash",
            {"command": "git add train.py && git commit -m 'depth 4' && git log --oneline -1"},
        ),
        "reset": ("Bash", {"command": "git reset --hard HEAD~1"}),
        "ledger row": ("Bash", {"command": 'echo -e "a1b2c3d\\t1.85\\t0.0\\tkeep\\tdepth 4" >> results.tsv'}),
        "denied cat": ("Bash", {"command": "cat run.log"}),
        "read train.py": ("Read", {"file_path": str(root / "train.py")}),
        "edit train.py": (
            "Edit",
            {"file_path": str(root / "train.py"), "old_string": TRAIN_HUNK, "new_string": TRAIN_HUNK + "\n"},
        ),
    }


CONFIG_MODULES = {"tomllib", "pathlib"}


def make_copy(root: Path, sandbox: dict | None) -> Path:
    """This checkout's hooks, library, config and train.py, with or without the sandbox block."""
    for rel in (".claude/hooks", ".claude/lib"):
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("pyproject.toml", "train.py", "prepare.py"):
        shutil.copy(REPO / rel, root / rel)
    settings = json.loads((REPO / ".claude" / "settings.json").read_text())
    settings.pop("sandbox", None)
    if sandbox is not None:
        settings["sandbox"] = sandbox
    (root / ".claude" / "settings.json").write_text(json.dumps(settings, indent=2))
    return root


def hook_imports(root: Path, tool: str, tool_input: dict):
    """Run the copy's real hook once; return (the modules it imported, its stdout)."""
    payload = {"hook_event_name": "PreToolUse", "cwd": str(root), "tool_name": tool, "tool_input": tool_input}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", str(root / ".claude/hooks/pre_tool_use.py")],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    return imported, proc.stdout


def cache_file(root: Path) -> Path:
    return root / ".claude/lib/autoresearch/__pycache__/guard-config.json"


@pytest.fixture(scope="module")
def walled(tmp_path_factory) -> Path:
    root = make_copy(tmp_path_factory.mktemp("walled"), WALL)
    assert policy.cache_is_walled(str(root), str(cache_file(root)))
    hook_imports(root, "Bash", {"command": "true"})  # the first call writes the cache
    assert cache_file(root).is_file()
    return root


def test_a_cold_call_reads_the_config_and_a_warm_one_does_not(walled):
    os.utime(walled / "pyproject.toml")  # a human's edit: the cache key (mtime) changes
    cold, _ = hook_imports(walled, "Bash", {"command": "true"})
    warm, _ = hook_imports(walled, "Bash", {"command": "true"})
    assert "tomllib" in cold and "tomllib" not in warm


@pytest.mark.parametrize("name", sorted(everyday(REPO)))
def test_everyday_calls_skip_the_config_parser_behind_the_wall(name, walled):
    imported, stdout = hook_imports(walled, *everyday(walled)[name])
    assert "autoresearch.policy" in imported  # the call was really judged
    assert not imported & CONFIG_MODULES, f"{name} imported {sorted(imported & CONFIG_MODULES)}"
    if name == "denied cat":
        assert json.loads(stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_a_forged_cache_is_trusted_only_behind_the_wall(tmp_path):
    """What an allowed one-liner could write: the genuine cache with every rule switched off."""
    root = make_copy(tmp_path, WALL)
    hook_imports(root, "Bash", {"command": "true"})  # the hook writes the genuine cache
    forged = json.loads(cache_file(root).read_text())
    forged["values"]["disabled_rules"] = list(config.RULE_IDS)
    cache_file(root).write_text(json.dumps(forged))
    _, stdout = hook_imports(root, "Bash", {"command": "cat run.log"})
    assert stdout == b""  # behind the wall the file is believed: only the sandbox may guard it
    make_copy(tmp_path / "fresh", None)  # the same project without the sandbox block
    shutil.copy(tmp_path / "fresh" / ".claude" / "settings.json", root / ".claude" / "settings.json")
    assert not policy.cache_is_walled(str(root), str(cache_file(root)))
    for _ in range(2):
        imported, stdout = hook_imports(root, "Bash", {"command": "cat run.log"})
        assert "tomllib" in imported  # read afresh on every call
        assert json.loads(stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert json.loads(cache_file(root).read_text()) == forged  # ignored, and not rewritten either


def test_a_rare_command_still_gets_the_regex_checks(walled):
    """The lazy `re` is only skipped, never lost: python -c code is read with it."""
    # open(..., 'w') is one of the shapes only the regex reads; the state folder is neither walled nor kept
    _, stdout = hook_imports(walled, "Bash", {"command": "python -c \"open('.autoresearch/'+'x','w')\""})
    assert json.loads(stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


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
    assert reader._is_count(text) == bool(re.fullmatch(r"[+-]?[0-9]+", text))
    letters = re.fullmatch(r"-([A-Za-z]+)", text)
    assert shellparse.short_flags(text) == (letters.group(1) if letters else "")


@given(st.text(alphabet="pythonpy3.1é_ip", max_size=10))
def test_interpreter_names_match_their_regexes(name):
    assert reader._is_python(name) == bool(re.fullmatch(r"python[0-9.]*|pypy[0-9.]*", name))
    assert reader._is_versioned_pip(name) == bool(re.fullmatch(r"pip[0-9](\.[0-9]+)?", name))


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
    assert reader._writes_files(text) == bool(OLD_WRITE_WORDS.search(text))
    joined = re.sub(r"""(['"])\s*[+.,]?\s*(['"])""", "", text)
    assert reader._join_literals(text) == joined
    for name in ("prepare.py", "pre", "are.py"):
        if name in joined:
            assert reader._may_reveal(text, name)  # the pre-filter never hides a match


def test_the_metric_grep_cannot_match_everything_and_dot_can():
    assert not reader._matches_everything("^val_bpb:\\|^peak_vram_mb:", "bre")
    assert reader._matches_everything("a\\|Z\\|-\\| \\|s\\|F\\|v\\|T", "bre")
    assert reader._matches_everything(".", "bre")


def _regex_matches_everything(pattern, mode, icase, whole_line):
    rx = reader._bre_to_python(pattern) if mode == "bre" else pattern
    compiled = re.compile(rx, re.IGNORECASE if icase else 0)
    match = compiled.fullmatch if whole_line else compiled.search
    return all(match(sample) for sample in reader._SAMPLES)


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
    assert reader._literal_alternatives(pattern, mode) is not None
    expected = _regex_matches_everything(pattern, mode, icase, whole_line)
    assert reader._matches_everything(pattern, mode, icase, whole_line) == expected
