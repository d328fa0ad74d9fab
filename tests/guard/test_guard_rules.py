"""The guard in three steps: the reader says what a call would do, the seven rules say whether that breaks
the protocol. These tests read like the rule book: each rule is given effects by hand, so a rule change
shows here without any shell parsing in the way; a few reader cases show the effects real calls produce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from autoresearch import config, policy, reader, rules
from autoresearch.effects import (
    APPEND,
    BOUNDED,
    CAN_ANY,
    CAN_READ,
    CAN_WRITE,
    DELETE,
    META,
    REPLACE,
    WHOLE,
    Clean,
    HooksOff,
    Install,
    LongRun,
    Opaque,
    Read,
    SetEnv,
    Stage,
    Targets,
    Train,
    Unignore,
    Write,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def t(project):
    return Targets(config.Config(root=project))


def denied_by(effects, t, cfg=None):
    """The rule id that denies these effects, or None."""
    found = rules.judge(effects, t, cfg or t.cfg)
    return found[0] if found else None


# -- the rules, one by one


def test_protected_files_denies_any_write_to_the_harness(t):
    prepare = t.abs("prepare.py")
    for kind in (REPLACE, APPEND, DELETE, META):
        assert denied_by([Write(prepare, kind)], t) == "protected-files"
    assert denied_by([Write(t.root, DELETE, recursive=True)], t) == "protected-files"  # rm -rf .
    assert denied_by([Write(t.root, DELETE)], t) is None  # rmdir . without -r removes nothing inside
    assert denied_by([Read(prepare, WHOLE, "cat")], t) is None  # reading the harness is fine


def test_no_installs_denies_installs_and_dependency_edits_only(t):
    assert denied_by([Install("`pip install x`")], t) == "no-installs"
    assert denied_by([Write(t.abs("uv.lock"), REPLACE)], t) == "no-installs"
    pyproject = t.abs("pyproject.toml")
    assert denied_by([Write(pyproject, REPLACE, dependency_edit=True)], t) == "no-installs"
    # Other pyproject.toml edits are still the human's, under guard-integrity.
    assert denied_by([Write(pyproject, REPLACE)], t) == "guard-integrity"


def test_guard_integrity_covers_the_guard_paths_and_the_hook_switch(t):
    assert denied_by([Write(t.abs(".claude/hooks/pre_tool_use.py"), REPLACE)], t) == "guard-integrity"
    assert denied_by([Write(t.abs(".claude/lib/autoresearch/__pycache__/x.pyc"), REPLACE)], t) == (
        "guard-integrity"
    )
    assert denied_by([HooksOff("Write writes disableAllHooks")], t) == "guard-integrity"
    assert denied_by([Write(t.abs(".claude/notes.md"), REPLACE)], t) is None  # .claude/ itself is not guarded


def test_redirect_training_wants_both_streams_in_a_file_and_the_fixed_budget(t):
    assert denied_by([Train("file", "file")], t) is None
    for stdout, stderr in (("tty", "file"), ("file", "tty"), ("pipe", "file"), ("null", "null")):
        assert denied_by([Train(stdout, stderr)], t) == "redirect-training"
    assert denied_by([SetEnv(t.time_budget_env, "export")], t) == "redirect-training"
    assert denied_by([SetEnv("CUDA_VISIBLE_DEVICES", "an assignment")], t) is None
    assert denied_by([LongRun("`scripts/experiment.py run`")], t) is None  # it only gets a longer timeout


def test_results_untracked_denies_staging_and_unignoring(t):
    assert denied_by([Stage(t.results, "git add")], t) == "results-untracked"
    assert denied_by([Unignore(t.results, "Edit drops its .gitignore entry")], t) == "results-untracked"


def test_keep_untracked_data_lets_the_ledger_grow_and_nothing_else(t):
    assert denied_by([Write(t.results, APPEND)], t) is None  # echo -e "row" >> results.tsv
    assert denied_by([Write(t.results, REPLACE, header_only=True)], t) is None  # the seed's header line
    for kind in (REPLACE, DELETE, META):
        assert denied_by([Write(t.results, kind)], t) == "keep-untracked-data"
    # The header rewrite is safe only alone: `echo row >> results.tsv; echo header > results.tsv`.
    both = [Write(t.results, APPEND), Write(t.results, REPLACE, header_only=True)]
    assert denied_by(both, t) == "keep-untracked-data"
    assert denied_by([Write(t.abs(".autoresearch/state.json"), APPEND)], t) == "keep-untracked-data"
    assert (
        denied_by([Write(t.abs(".claude/context/memory/learnings.md"), APPEND)], t) == "keep-untracked-data"
    )
    assert denied_by([Write(t.log, DELETE)], t) == "keep-untracked-data"
    assert denied_by([Write(t.log, REPLACE)], t) is None  # `uv run train.py > run.log 2>&1`
    assert denied_by([Clean("ignored files", "git clean")], t) == "keep-untracked-data"


def test_log_flood_denies_whole_reads_of_the_log_only(t):
    assert denied_by([Read(t.log, WHOLE, "`cat` on the log prints all of it")], t) == "log-flood"
    assert denied_by([Read(t.log, BOUNDED, "`tail` of a few lines")], t) is None
    assert denied_by([Read(t.results, WHOLE, "cat")], t) is None


def test_hidden_text_counts_only_for_what_it_could_do(t, project):
    def hidden(target, can=CAN_ANY):
        return Opaque(target, t.rel(target), "a path computed at run time", False, can)

    prepare = t.abs("prepare.py")
    assert denied_by([hidden(prepare)], t) == "protected-files"
    assert denied_by([hidden(t.log)], t) == "log-flood"
    assert denied_by([hidden(t.results)], t) == "keep-untracked-data"
    assert denied_by([hidden(t.time_budget_env)], t) == "redirect-training"
    # A hidden reader may flood the context, but cannot write anything.
    assert denied_by([hidden(t.log, CAN_READ)], t) == "log-flood"
    assert denied_by([hidden(prepare, CAN_READ)], t) is None
    assert denied_by([hidden(t.results, CAN_READ)], t) is None
    # A hidden write target cannot print the log.
    assert denied_by([hidden(t.log, CAN_WRITE)], t) is None
    assert denied_by([hidden(t.results, CAN_WRITE)], t) == "keep-untracked-data"
    # Where the sandbox walls a path off, the wall stops the hidden write: the guide lets it through.
    walled = Targets(t.cfg, walled=[prepare, t.abs(".claude/lib")])
    assert denied_by([hidden(prepare)], walled) is None
    assert denied_by([hidden(t.abs(".claude/lib"))], walled) is None
    assert denied_by([hidden(t.abs(".claude/hooks"))], walled) == "guard-integrity"
    assert denied_by([Write(prepare, REPLACE)], walled) == "protected-files"  # recognised: still explained


def test_the_first_enabled_rule_explains_a_call_that_breaks_several(t, project):
    effects = [Read(t.log, WHOLE, "cat"), Write(t.abs("prepare.py"), REPLACE), Stage(t.results, "git add")]
    assert denied_by(effects, t) == "protected-files"
    cfg = config.from_table(project, {"disabled_rules": ["protected-files"]})
    assert denied_by(effects, Targets(cfg), cfg) == "results-untracked"
    cfg = config.from_table(project, {"disabled_rules": ["protected-files", "results-untracked"]})
    assert denied_by(effects, Targets(cfg), cfg) == "log-flood"


def test_every_reason_is_one_sentence_that_names_its_rule(t):
    samples = {
        "protected-files": [Write(t.abs("prepare.py"), REPLACE)],
        "no-installs": [Install("`pip install x`")],
        "guard-integrity": [Write(t.abs(".claude/settings.json"), REPLACE)],
        "redirect-training": [Train("tty", "tty")],
        "results-untracked": [Stage(t.results, "git add")],
        "keep-untracked-data": [Write(t.results, DELETE)],
        "log-flood": [Read(t.log, WHOLE, "cat")],
    }
    assert set(samples) == set(rules.RULES)
    for rule_id, effects in samples.items():
        reason = rules.RULES[rule_id](effects, t)
        assert reason.startswith(rule_id + ": "), reason
        assert reason.endswith(".") and "\n" not in reason, reason
        assert "`" in reason or t.rel(t.train) in reason, f"{rule_id} names no allowed way: {reason}"


# -- one home: the rule ids, their order, and the skill's table


def test_the_rules_are_the_configs_rule_ids():
    assert set(rules.RULES) == set(config.RULE_IDS)
    for rule_id, rule in rules.RULES.items():
        assert rule.__name__ == rule_id.replace("-", "_")
        assert rule.__doc__ and rule.__doc__.count(".") >= 1, f"{rule_id} has no one-sentence docstring"


def test_the_skill_table_and_docs_list_the_rules_in_the_order_they_are_asked():
    skill = (REPO / ".claude/skills/ml-experiment-loop/SKILL.md").read_text()
    table = re.findall(r"^\| `([a-z-]+)` \|", skill, flags=re.M)
    assert table == list(rules.RULES)
    guards = (REPO / "docs/guards.md").read_text()
    order = re.search(r"first enabled one in this order:(.*?)\.\n", guards, flags=re.S).group(1)
    assert re.findall(r"[a-z]+(?:-[a-z]+)+", order) == list(rules.RULES)


# -- the reader: what real calls become


def effects_of(t, tool, **tool_input):
    return reader.read_call({"tool_name": tool, "tool_input": tool_input, "cwd": t.root}, t)


def test_a_bounded_read_is_recorded_as_bounded(t):
    assert effects_of(t, "Bash", command="tail -n 50 run.log") == [
        Read(t.log, BOUNDED, "`tail` of a few lines")
    ]
    [effect] = effects_of(t, "Bash", command="cat run.log")
    assert (effect.path, effect.extent) == (t.log, WHOLE)
    [effect] = effects_of(t, "Read", file_path=t.log, limit=50)
    assert effect.extent == BOUNDED


def test_the_seed_protocol_becomes_harmless_effects(t):
    [run] = [
        e for e in effects_of(t, "Bash", command="uv run train.py > run.log 2>&1") if isinstance(e, Train)
    ]
    assert run == Train("file", "file")
    header = 'echo -e "commit\\tval_bpb\\tmemory_gb\\tstatus\\tdescription" > results.tsv'
    [write] = effects_of(t, "Bash", command=header)
    assert write.path == t.results and write.header_only  # the fixture's results.tsv holds only the header
    [row] = effects_of(t, "Bash", command='echo -e "a\\t1.0\\t0.0\\tkeep\\tx" >> results.tsv')
    assert (row.path, row.kind) == (t.results, APPEND)


def test_writes_the_reader_cannot_follow_are_named_only_when_they_show_a_guarded_name(t):
    effects = effects_of(t, "Bash", command='python -c "import sys; open(sys.argv[1], \'w\')" "$X"')
    assert not [e for e in effects if isinstance(e, (Write, Opaque))]  # left to the sandbox
    effects = effects_of(t, "Bash", command="echo x > $(echo prepare.py)")
    assert [e.target for e in effects if isinstance(e, Opaque)] == [t.abs("prepare.py")]


def test_variables_built_up_in_the_command_are_followed(t):
    effects = effects_of(t, "Bash", command='f=prep; f+=are.py; echo x > "$f"')
    assert [e.path for e in effects if isinstance(e, Write)] == [t.abs("prepare.py")]


# -- the shipped project: the wall and the honest calls the issue names


def test_the_shipped_settings_wall_off_the_harness_and_every_guard_path():
    cfg = config.load(REPO)
    t = Targets(cfg, policy.walled_paths(str(REPO)))
    assert all(t.is_walled(p) for p in (*t.protected, *t.guard))
    assert not any(t.is_walled(p) for p in t.night_data)  # those the keeper and the guide look after


HONEST = [
    ("Bash", {"command": 'tail -n 50 "$(pwd)/run.log"'}),
    ("Bash", {"command": "tail -n 50 `pwd`/run.log"}),
    ("Bash", {"command": 'python3 -c "print(1)" > "$TMPDIR/out.txt"; grep -c step run.log'}),
    (
        "Bash",
        {"command": "uv run python -c \"import json; d = json.load(open('x.json')); print(d['a'] > 1)\""},
    ),
    ("Bash", {"command": "python3 -c \"import json; print(json.dumps({'val_bpb': 1.0}))\" > /tmp/m.json"}),
    ("Bash", {"command": "python3 - <<'PY'\ndef f(x) -> int:\n    return x\nprint(f(1))\nPY"}),
    ("Bash", {"command": "rg --files"}),
    ("Bash", {"command": "rg --files | head -n 20"}),
    ("Bash", {"command": "for f in ~/.cache/autoresearch/d?ta/*; do ls -la $f; done"}),
    ("Bash", {"command": "for f in ~/.cache/autoresearch/d?ta/*; do cat $f | head -c 100; done"}),
    (
        "Edit",
        {"file_path": str(REPO / "train.py"), "old_string": "DEPTH", "new_string": "# see prepare.py\nDEPTH"},
    ),
    ("Edit", {"file_path": "train.py", "old_string": "x", "new_string": "from prepare import evaluate_bpb"}),
]


@pytest.mark.parametrize("tool,tool_input", HONEST, ids=[str(i) for i, _ in enumerate(HONEST)])
def test_honest_calls_with_computed_parts_pass_in_the_shipped_project(tool, tool_input):
    payload = {"tool_name": tool, "tool_input": tool_input, "cwd": str(REPO)}
    decision = policy.evaluate(payload, config.load(REPO))
    assert decision.allowed, decision.reason
