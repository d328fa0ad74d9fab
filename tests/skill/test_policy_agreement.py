"""The skill and the guard agree: every protocol command the skill gives is allowed by `policy.evaluate`, and
every denial the skill's hook table promises is a real denial under that rule id (fast: no command runs)."""

from __future__ import annotations

import re

import pytest
from autoresearch import config, policy
from skilltext import (
    REPO_ROOT,
    SKILL_MD,
    all_skill_texts,
    bash_commands,
    resume_commands,
    skill_commands,
    tail_command,
)

CFG = config.load(REPO_ROOT)


def _evaluate(tool_name: str, tool_input: dict):
    payload = {
        "session_id": "skill-agreement",
        "cwd": str(REPO_ROOT),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool_name,
        "tool_input": tool_input,
        "tool_use_id": "toolu_skill",
    }
    return policy.evaluate(payload, CFG)


def _protocol_commands() -> list[str]:
    commands = list(skill_commands().values()) + resume_commands() + [tail_command()]
    for text in all_skill_texts().values():
        commands += bash_commands(text)
    return sorted(set(commands))


@pytest.mark.parametrize("command", _protocol_commands())
def test_protocol_command_is_allowed(command):
    decision = _evaluate("Bash", {"command": command, "timeout": 600_000})
    assert decision.allowed, f"the guard denies the skill's own command {command!r}: {decision.reason}"


def test_editing_train_py_is_allowed():
    edit = {"file_path": str(REPO_ROOT / "train.py"), "old_string": "SEED = 42", "new_string": "SEED = 42"}
    assert _evaluate("Edit", edit).allowed


def test_run_commands_get_the_long_bash_timeout():
    """The skill says every run needs timeout 600000 ms; the guard adds it when the agent forgets."""
    decision = _evaluate("Bash", {"command": skill_commands()["run"]})
    assert decision.allowed
    assert (decision.updated_input or {}).get("timeout") == 600_000


def _bash(command: str) -> tuple[str, dict]:
    return "Bash", {"command": command}


def _edit(rel: str) -> tuple[str, dict]:
    return "Edit", {"file_path": str(REPO_ROOT / rel), "old_string": "a", "new_string": "b"}


# rule id -> (a phrase its row in SKILL.md's hook table contains, a call that the row says is denied)
TABLE_CLAIMS = {
    "log-flood": [
        ("`cat`", _bash("cat run.log")),
        ("Read of `run.log`", ("Read", {"file_path": str(REPO_ROOT / "run.log")})),
        ("beyond 50 lines", _bash("tail -n 500 run.log")),
        ("`tail -f`", _bash("tail -f run.log")),
    ],
    "protected-files": [
        ("editor", _edit("prepare.py")),
        ("redirect", _bash("echo TIME_BUDGET = 1 >> prepare.py")),
        ("`sed -i`", _bash("sed -i s/300/30/ prepare.py")),
        ("`cp`", _bash("cp train.py prepare.py")),
        ("`git checkout -- prepare.py`", _bash("git checkout -- prepare.py")),
    ],
    "results-untracked": [
        ("`git add results.tsv`", _bash("git add results.tsv")),
        ("`git add -f`", _bash("git add -f results.tsv")),
    ],
    "no-installs": [
        ("`pip install`", _bash("pip install einops")),
        ("`uv add`", _bash("uv add einops")),
        ("`uv pip`", _bash("uv pip install einops")),
        ("conda", _bash("conda install numpy")),
        ("npm", _bash("npm install left-pad")),
        ("apt", _bash("apt-get install -y htop")),
        ("dependency lists", _edit("uv.lock")),
    ],
    "redirect-training": [
        ("without `> run.log 2>&1`", _bash("uv run train.py")),
        ("`tee`", _bash("uv run train.py | tee run.log")),
        ("time-budget override", _bash(f"{config.TIME_BUDGET_ENV}=60 uv run scripts/experiment.py run")),
    ],
    "guard-integrity": [
        ("`.claude/settings*.json`", _edit(".claude/settings.json")),
        ("`.claude/hooks/`", _edit(".claude/hooks/stop.py")),
        ("`.claude/lib/`", _edit(".claude/lib/autoresearch/policy.py")),
        ("`.claude/skills/`", _edit(".claude/skills/ml-experiment-loop/SKILL.md")),
        ("`pyproject.toml`", _edit("pyproject.toml")),
    ],
    "keep-untracked-data": [
        ("`git clean -x`", _bash("git clean -fdx")),
        ("deleting `results.tsv`", _bash("rm results.tsv")),
        ("`.autoresearch/`", _bash("rm -rf .autoresearch")),
        ("memory files", _bash("rm .claude/context/memory/learnings.md")),
    ],
}
CASES = [(rule, phrase, call) for rule, claims in TABLE_CLAIMS.items() for phrase, call in claims]


def _table_row(rule: str) -> str:
    text = SKILL_MD.read_text(encoding="utf-8")
    match = re.search(rf"^\| `{re.escape(rule)}` \|.*$", text, flags=re.M)
    assert match, f"SKILL.md's hook table has no row for {rule}"
    return match.group(0)


def test_every_rule_is_claimed():
    assert set(TABLE_CLAIMS) == set(config.RULE_IDS)


@pytest.mark.parametrize("rule,phrase,call", CASES, ids=[f"{r}:{p}" for r, p, _ in CASES])
def test_hook_table_claim_is_enforced(rule, phrase, call):
    assert phrase in _table_row(rule), f"SKILL.md's {rule} row no longer says {phrase!r}"
    decision = _evaluate(*call)
    assert not decision.allowed, f"SKILL.md says {rule} denies {call}, but the guard allows it"
    assert decision.rule == rule, f"{call} is denied by {decision.rule}, but SKILL.md attributes it to {rule}"
    assert rule in decision.reason, "the reason must name the rule so the agent can look it up in the skill"


def test_the_agent_cannot_raise_the_stop_sentinel():
    """The skill says only the human creates .autoresearch/STOP; the guard agrees."""
    assert not _evaluate("Bash", {"command": f"touch {CFG.state_dir}/STOP"}).allowed
