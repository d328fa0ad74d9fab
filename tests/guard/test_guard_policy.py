"""Policy behaviour that the corpus does not show: config-driven names, switching rules off, updatedInput."""

from __future__ import annotations

import json

import pytest
from autoresearch import config, configcache, policy, reader


def bash(root, command, **extra):
    return {"tool_name": "Bash", "tool_input": {"command": command, **extra}, "cwd": str(root)}


def test_every_name_comes_from_the_config(project):
    cfg = config.from_table(
        project, {"log_file": "train.log", "tail_lines": 20, "protected_files": ["eval.py"]}
    )
    denied = policy.evaluate(bash(project, "cat train.log"), cfg)
    assert denied.rule == "log-flood"
    assert "train.log" in denied.reason and "20 lines" in denied.reason
    assert policy.evaluate(bash(project, "tail -n 30 train.log"), cfg).rule == "log-flood"
    assert policy.evaluate(bash(project, "tail -n 20 train.log"), cfg).allowed
    assert policy.evaluate(bash(project, "cat run.log"), cfg).allowed
    assert policy.evaluate(bash(project, "echo x > eval.py"), cfg).rule == "protected-files"
    assert policy.evaluate(bash(project, "echo x > prepare.py"), cfg).allowed


def test_a_human_switches_a_rule_off_in_the_config(project):
    cfg = config.from_table(project, {"disabled_rules": ["log-flood"]})
    assert policy.evaluate(bash(project, "cat run.log"), cfg).allowed
    assert policy.evaluate(bash(project, "echo x > prepare.py"), cfg).rule == "protected-files"


def test_a_disabled_rule_lets_the_next_one_speak(project):
    # uv.lock is both a dependency list (no-installs) and part of the guardrails (guard-integrity).
    cfg = config.from_table(project, {"disabled_rules": ["no-installs"]})
    assert policy.evaluate(bash(project, "echo x > uv.lock"), cfg).rule == "guard-integrity"


def test_switching_rules_off_is_itself_guarded(project):
    cfg = config.load(project)
    edit = {
        "tool_name": "Edit",
        "cwd": str(project),
        "tool_input": {
            "file_path": str(project / "pyproject.toml"),
            "old_string": "disabled_rules = []",
            "new_string": 'disabled_rules = ["log-flood"]',
        },
    }
    assert policy.evaluate(edit, cfg).rule == "guard-integrity"


def test_training_gets_the_bash_timeout_through_updated_input(project):
    cfg = config.load(project)
    decision = policy.evaluate(bash(project, "uv run train.py > run.log 2>&1", description="d"), cfg)
    assert decision.allowed
    assert decision.updated_input == {
        "command": "uv run train.py > run.log 2>&1",
        "description": "d",
        "timeout": 600000,
    }
    short = policy.evaluate(bash(project, "uv run scripts/experiment.py run", timeout=120000), cfg)
    assert short.updated_input["timeout"] == 600000
    done = policy.evaluate(bash(project, "uv run scripts/experiment.py setup", timeout=600000), cfg)
    assert done.updated_input is None
    assert policy.evaluate(bash(project, "uv run scripts/experiment.py status"), cfg).updated_input is None
    monitor = {
        "tool_name": "Monitor",
        "tool_input": {"command": "uv run train.py > run.log 2>&1"},
        "cwd": str(project),
    }
    assert policy.evaluate(monitor, cfg).updated_input is None


def test_reasons_are_one_sentence_naming_the_rule_and_the_way(project):
    cfg = config.load(project)
    reason = policy.evaluate(bash(project, "cat run.log"), cfg).reason
    assert reason.startswith("log-flood: ")
    assert 'grep "^val_bpb:\\|^peak_vram_mb:" run.log' in reason and "tail -n 50 run.log" in reason
    memory = policy.evaluate(bash(project, "echo x >> .claude/context/memory/learnings.md"), cfg).reason
    assert "uv run .claude/lib/memory/memory_search.py add" in memory


def test_the_fallback_denies_only_calls_that_name_a_guarded_file(project):
    cfg = config.load(project)
    assert not policy.fallback(bash(project, "cat prepare.py.bak > prepare.py"), cfg, "boom").allowed
    assert policy.fallback(bash(project, "ls -la"), cfg, "boom").allowed


WALL = {**policy.WALL_FLAGS, "filesystem": {"denyWrite": ["./.claude"]}}


def walled_project(root, monkeypatch, sandbox=WALL):
    """A project whose settings wall the cache file, which lives in its .claude/ for the test."""
    (root / ".claude").mkdir(parents=True)
    (root / ".claude" / "settings.json").write_text(json.dumps({"sandbox": sandbox}))
    cache = root / ".claude" / "cache" / "guard-config.json"
    monkeypatch.setattr(configcache, "CACHE_FILE", str(cache))  # the cache's one home
    return cache


@pytest.mark.parametrize(
    ("shared", "local", "walled"),
    [
        (WALL, None, True),
        (
            {**WALL, "filesystem": {"denyWrite": ["./.claude/skills", "./prepare.py"]}},
            None,
            False,
        ),  # not the cache
        ({**WALL, "filesystem": {"denyWrite": [".claude"]}}, None, False),  # not anchored at the project
        ({**WALL, "enabled": False}, None, False),
        ({**WALL, "failIfUnavailable": False}, None, False),  # no bwrap: Bash would run unsandboxed
        ({k: v for k, v in WALL.items() if k != "allowUnsandboxedCommands"}, None, False),
        ({**WALL, "allowUnsandboxedCommands": True}, None, False),  # dangerouslyDisableSandbox escapes it
        (WALL, {"sandbox": {"enabled": False}}, False),  # settings.local.json takes precedence
        (WALL, {"sandbox": {"enabled": True}}, True),
        (WALL, "{not json", False),
        (None, None, False),
    ],
)
def test_the_cache_is_walled_only_by_a_sandbox_that_cannot_be_skipped(tmp_path, shared, local, walled):
    (tmp_path / ".claude").mkdir()
    if shared is not None:
        (tmp_path / ".claude" / "settings.json").write_text(json.dumps({"sandbox": shared}))
    if local is not None:
        text = local if isinstance(local, str) else json.dumps(local)
        (tmp_path / ".claude" / "settings.local.json").write_text(text)
    cache = tmp_path / ".claude" / "lib" / "autoresearch" / "__pycache__" / "guard-config.json"
    assert policy.cache_is_walled(str(tmp_path), str(cache)) is walled


def test_an_unwalled_project_never_reads_or_writes_the_cache(tmp_path, monkeypatch):
    cache = walled_project(tmp_path, monkeypatch, sandbox={**WALL, "enabled": False})
    (tmp_path / "pyproject.toml").write_text("[tool.autoresearch]\ntail_lines = 20\n")
    assert isinstance(policy.load_config(str(tmp_path)), config.Config)
    assert isinstance(policy.load_config(str(tmp_path)), config.Config)
    assert not cache.exists()


def test_the_hook_config_cache_gives_what_config_load_gives_and_follows_edits(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    cache = walled_project(root, monkeypatch)
    text = (config.find_root(__file__) / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text)
    fresh = policy.load_config(str(root))
    assert isinstance(fresh, config.Config)
    cached = policy.load_config(str(root))
    assert isinstance(cached, policy.CachedConfig)
    for name in policy._CACHED_FIELDS:
        assert getattr(cached, name) == getattr(fresh, name), name
    assert cached.untracked_data() == fresh.untracked_data()
    assert cached.rule_enabled("log-flood") and cached.time_budget_env == config.TIME_BUDGET_ENV
    payload = {"tool_name": "Bash", "tool_input": {"command": "tail -n 50 run.log"}, "cwd": str(root)}
    assert policy.evaluate(payload, cached).allowed
    # A human edit (here: a smaller limit and a disabled rule) is seen on the next call.
    edited = text.replace("tail_lines = 50", "tail_lines = 20").replace(
        "disabled_rules = []", 'disabled_rules = ["no-installs"]'
    )
    assert edited != text
    (root / "pyproject.toml").write_text(edited + "\n")
    again = policy.load_config(str(root))
    assert again.tail_lines == 20 and not again.rule_enabled("no-installs")
    assert not policy.evaluate(payload, again).allowed
    # A corrupt cache is rebuilt, not trusted.
    cache.write_text("{not json")
    assert policy.load_config(str(root)).tail_lines == 20


def test_a_broken_config_raises_the_loaders_error(tmp_path, monkeypatch):
    walled_project(tmp_path, monkeypatch)
    (tmp_path / "pyproject.toml").write_text("[tool.autoresearch]\ntail_lines = 'many'\n")
    try:
        policy.load_config(str(tmp_path))
    except config.ConfigError as exc:
        assert "tail_lines" in str(exc)
    else:
        raise AssertionError("expected ConfigError")


def test_python_code_is_read_without_comments_and_docstrings():
    source = '"""Module doc: see prepare.py.\n"""\nx = "prepare.py"  # prepare.py\ny = \'\'\'one line\'\'\'\n'
    code = reader._python_code_only(source)
    assert code == "\nx = \"prepare.py\"  \ny = '''one line'''\n"
    assert reader._python_code_only('s = "a # not a comment"') == 's = "a # not a comment"'
    assert reader._python_code_only('s = "esc\\" # still a string"') == 's = "esc\\" # still a string"'
    assert reader._python_code_only('"""unclosed prepare.py') == '"""unclosed prepare.py'  # kept: fail safe
