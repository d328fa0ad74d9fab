"""The protocol walk-through: the skill's LITERAL set-up and loop commands, in order, in a temp copy.

Every Bash command goes through the guard's `policy.evaluate` (shaped like Claude Code's PreToolUse
payload) and must be allowed, then runs for real: git, uv, train.py on the embedded data, the memory CLI.
The night gets a baseline row, one kept experiment, one discarded one (reset verified) and one crash.

The training budget is tiny. The runner never keeps a run made under the AUTORESEARCH_TIME_BUDGET override
("not comparable"), so the temp project's own fixed harness gets a small TIME_BUDGET constant instead,
committed before set-up like any harness. The override is still used on the discarded experiment, where
`record keep` must be refused.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from autoresearch import config, ledger, policy
from project_copy import copy_project
from project_copy import git as _git
from skilltext import SKILL_DIR, replace_last_quoted, resume_commands, skill_commands, tail_command

pytestmark = pytest.mark.slow

TEST_BUDGET = 3  # seconds of training per run
RUN_TIMEOUT_MS = 600_000  # the skill tells the agent to give every run this Bash timeout
CRASH_MESSAGE = "walkthrough deliberate crash"


class Walk:
    """Runs the skill's commands like Claude Code's Bash tool, once the PreToolUse policy allows them."""

    def __init__(self, root: Path, env: dict):
        self.root = root
        self.env = env
        self.cfg = config.load(root)
        self.history: list[tuple[str, int, float]] = []  # command, exit code, seconds

    def _payload(self, tool_name: str, tool_input: dict) -> dict:
        return {
            "session_id": "skill-walkthrough",
            "transcript_path": str(self.root / ".transcript.jsonl"),
            "cwd": str(self.root),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool_name,
            "tool_input": tool_input,
            "tool_use_id": f"toolu_{len(self.history):04d}",
        }

    def allowed(self, tool_name: str, tool_input: dict) -> dict:
        decision = policy.evaluate(self._payload(tool_name, tool_input), self.cfg)
        assert decision.allowed, (
            f"the guard denied a protocol step: {tool_name} {tool_input}: [{decision.rule}] {decision.reason}"
        )
        return decision.updated_input or tool_input

    def bash(self, command: str, expect_rc: int | None = 0, extra_env: dict | None = None, timeout_ms=None):
        tool_input = {"command": command, "description": "protocol step"}
        if timeout_ms:
            tool_input["timeout"] = timeout_ms
        tool_input = self.allowed("Bash", tool_input)
        command = tool_input["command"]
        timeout_s = (tool_input.get("timeout") or 120_000) / 1000
        started = time.monotonic()
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        self.history.append((command, proc.returncode, round(time.monotonic() - started, 1)))
        if expect_rc is not None:
            assert proc.returncode == expect_rc, (
                f"`{command}` exited {proc.returncode} (expected {expect_rc})\n"
                f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
            )
        return proc

    def edit_train(self, old: str, new: str) -> None:
        """The Edit tool on train.py: allowed by the guard, then applied exactly like the tool does."""
        path = self.root / self.cfg.train_script
        self.allowed(
            "Edit", {"file_path": str(path), "old_string": old, "new_string": new, "replace_all": False}
        )
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"edit target not unique in train.py: {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def head(self) -> str:
        return _git(self.root, "rev-parse", "HEAD")

    def rows(self) -> list:
        return ledger.read_rows(self.cfg.results_path)


@pytest.fixture
def project(tmp_path, embedded_cache) -> Walk:
    root = tmp_path / "night"
    return Walk(root, copy_project(root, TEST_BUDGET, embedded_cache))


def _loop_top(walk: Walk, cmds: dict, query: str) -> None:
    """Loop steps 1-2: check git state, search memory."""
    walk.bash(cmds["git_status"])
    walk.bash(cmds["git_log"])
    walk.bash(cmds["status"])
    walk.bash(replace_last_quoted(cmds["search"], query))


def _number_line(text: str) -> tuple[str, str]:
    """A `NAME = number` hyperparameter line of train.py to change (the first float-valued constant)."""
    match = re.search(r"^([A-Z][A-Z0-9_]*)\s*=\s*([0-9]*\.[0-9]+(?:e-?\d+)?)\b.*$", text, flags=re.M)
    assert match, "train.py has no float hyperparameter constant at the top level"
    return match.group(0), match.group(1)


def _first_import(text: str) -> str:
    """The source of train.py's first top-level import after any __future__ import (a unique edit anchor)."""
    for node in ast.parse(text).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__":
            return "\n".join(text.splitlines()[node.lineno - 1 : node.end_lineno])
    raise AssertionError("train.py has no top-level import")


def test_protocol_walkthrough(project: Walk):
    walk, cmds = project, skill_commands()
    train = walk.root / "train.py"

    # ---- Phase 1: set-up -------------------------------------------------------------------------------
    walk.bash(cmds["sync"], timeout_ms=RUN_TIMEOUT_MS)
    # Without a prepared cache, setup refuses in one line that names the exact command for the human.
    empty = {"AUTORESEARCH_CACHE": str(walk.root.parent / "no-cache")}
    missing = walk.bash(cmds["setup"], expect_rc=1, extra_env=empty, timeout_ms=RUN_TIMEOUT_MS)
    assert "uv run prepare.py" in missing.stderr and "Traceback" not in missing.stderr, missing.stderr
    assert _git(walk.root, "rev-parse", "--abbrev-ref", "HEAD") == "master", "no branch without data"
    setup = walk.bash(cmds["setup"], timeout_ms=RUN_TIMEOUT_MS)
    branch = _git(walk.root, "rev-parse", "--abbrev-ref", "HEAD")
    assert branch.startswith("autoresearch/"), setup.stdout
    assert walk.cfg.results_path.read_text() == ledger.HEADER + "\n"
    assert "results.tsv" not in _git(walk.root, "ls-files")
    again = walk.bash(cmds["setup"], expect_rc=1)  # an existing night is refused with one line, no traceback
    assert "Traceback" not in again.stderr and again.stderr.strip().count("\n") == 0

    baseline = walk.head()
    for _ in range(walk.cfg.noise.baseline_repeats):  # one Bash call per baseline run
        verdict = walk.bash(cmds["run"], timeout_ms=RUN_TIMEOUT_MS)
        assert "val_bpb" in verdict.stdout
    walk.bash(cmds["record_keep"])  # `record keep "baseline"`, literally
    rows = walk.rows()
    assert [(r.commit, r.status, r.description) for r in rows] == [(baseline[:7], "keep", "baseline")]
    assert rows[0].val_bpb > 0

    # ---- Loop 1: a kept experiment ---------------------------------------------------------------------
    _loop_top(walk, cmds, "learning rate")
    line, name = _number_line(train.read_text())
    value = float(line.split("=", 1)[1].split("#")[0])
    walk.edit_train(line, f"{name} = {value * 1.1!r}  # walkthrough: +10%")
    walk.bash(replace_last_quoted(cmds["commit"], f"exp: {name} x1.1"))
    kept = walk.head()
    walk.bash(cmds["run"], timeout_ms=RUN_TIMEOUT_MS)
    metric = walk.bash(cmds["grep"])
    assert re.search(r"^val_bpb:\s+\d+\.\d{6}$", metric.stdout, flags=re.M), metric.stdout
    walk.bash(replace_last_quoted(cmds["record_keep"], f"{name} x1.1"))
    assert walk.head() == kept, "keep must leave the experiment commit in place"
    assert walk.rows()[-1].commit == kept[:7] and walk.rows()[-1].status == "keep"
    add = replace_last_quoted(cmds["memory_add"], f"{name} x1.1 measured in the walkthrough")
    add = re.sub(r"--from-result \S+", f"--from-result {kept[:7]}", add)
    walk.bash(add)

    # ---- Loop 2: a discarded experiment (under the test-only budget override) --------------------------
    _loop_top(walk, cmds, name)
    kept_text = train.read_text()
    line, name2 = _number_line(kept_text)
    walk.edit_train(
        line, f"{name2} = {float(line.split('=', 1)[1].split('#')[0]) * 0.5!r}  # walkthrough: half"
    )
    walk.bash(replace_last_quoted(cmds["commit"], f"exp: {name2} halved"))
    discarded = walk.head()
    override = {config.TIME_BUDGET_ENV: str(TEST_BUDGET)}
    walk.bash(cmds["run"], extra_env=override, timeout_ms=RUN_TIMEOUT_MS)
    walk.bash(cmds["grep"])
    refused = walk.bash(replace_last_quoted(cmds["record_keep"], "not comparable"), expect_rc=1)
    assert "comparable" in refused.stderr and "Traceback" not in refused.stderr
    walk.bash(replace_last_quoted(cmds["record_discard"], f"{name2} halved (override budget)"))
    assert walk.head() == kept, "discard must reset to the run's base commit (the kept one)"
    assert train.read_text() == kept_text, "discard must restore train.py"
    assert (walk.rows()[-1].commit, walk.rows()[-1].status) == (discarded[:7], "discard")
    assert _git(walk.root, "status", "--porcelain", "--untracked-files=no") == ""

    # ---- Loop 3: a crash -------------------------------------------------------------------------------
    _loop_top(walk, cmds, "crash")
    first_import = _first_import(kept_text)
    walk.edit_train(first_import, f'{first_import}\nraise RuntimeError("{CRASH_MESSAGE}")')
    walk.bash(replace_last_quoted(cmds["commit"], "exp: a deliberate crash"))
    crashed = walk.head()
    verdict = walk.bash(cmds["run"], expect_rc=1, timeout_ms=RUN_TIMEOUT_MS)
    assert "crash" in verdict.stdout
    assert walk.bash(cmds["grep"], expect_rc=1).stdout == "", "a crash leaves no metric to grep"
    tail = walk.bash(tail_command())
    assert CRASH_MESSAGE in tail.stdout and len(tail.stdout.splitlines()) <= walk.cfg.tail_lines
    walk.bash(replace_last_quoted(cmds["record_crash"], "deliberate RuntimeError at import"))
    last = walk.rows()[-1]
    assert (last.commit, last.status, last.val_bpb, last.memory_gb) == (crashed[:7], "crash", 0.0, 0.0)
    assert walk.head() == kept and train.read_text() == kept_text, "crash must be reverted to the kept commit"

    # ---- the morning / a resume: everything survived the resets ----------------------------------------
    for command in resume_commands():
        walk.bash(command)
    statuses = [r.status for r in walk.rows()]
    assert statuses == ["keep", "keep", "discard", "crash"]
    found = walk.bash(f"uv run .claude/lib/memory/memory_search.py --json search {name}")
    assert kept[:7] in found.stdout, "the learning written before two resets must still be found"
    status = walk.bash(cmds["status"]).stdout
    assert kept[:7] in status
    tracked = _git(walk.root, "ls-files")
    assert "results.tsv" not in tracked and ".autoresearch" not in tracked
    assert _git(walk.root, "log", "--format=%H", f"{baseline}..HEAD").split() == [kept]
    schema = (SKILL_DIR / "references" / "results-schema.md").read_text(encoding="utf-8")
    plot = re.search(r"`(uv run scripts/experiment\.py plot)`", schema)
    assert plot, "results-schema.md no longer names the plot command"
    walk.bash(plot.group(1))
    assert (walk.root / "progress.png").stat().st_size > 10_000
    # The night's data is all untracked AND ignored: nothing for `git add` to sweep in.
    assert _git(walk.root, "status", "--porcelain") == ""
    print("\n".join(f"{seconds:6.1f}s rc={rc} {command}" for command, rc, seconds in walk.history))


def test_a_wave_of_two_walkthrough(project: Walk):
    """SKILL.md's wave, literally, with `workers = 2`: a candidate and the control run side by side."""
    walk, cmds = project, skill_commands()
    pyproject = walk.root / "pyproject.toml"
    text, count = re.subn(r"^workers = 1\b", "workers = 2", pyproject.read_text(), flags=re.M)
    assert count == 1, "pyproject.toml lost its [tool.autoresearch.jobs] workers key"
    pyproject.write_text(text)
    _git(walk.root, "commit", "-q", "-am", "two workers")
    walk.cfg = config.load(walk.root)
    train = walk.root / "train.py"

    walk.bash(cmds["sync"], timeout_ms=RUN_TIMEOUT_MS)
    walk.bash(cmds["setup"], timeout_ms=RUN_TIMEOUT_MS)
    best = walk.head()
    for _ in range(walk.cfg.noise.baseline_repeats):
        walk.bash(cmds["run"], timeout_ms=RUN_TIMEOUT_MS)
    walk.bash(cmds["record_keep"])
    assert [r.status for r in walk.rows()] == ["keep"]

    # the wave: one candidate off the best, and the best itself as the control
    best_text = train.read_text()
    line, name = _number_line(best_text)
    walk.edit_train(line, f"{name} = {float(line.split('=', 1)[1].split('#')[0]) * 0.9!r}  # wave: -10%")
    held = walk.bash(replace_last_quoted(cmds["hold"], f"exp: {name} x0.9"))
    candidate = re.search(r"job (\S+) \(([0-9a-f]{7})", held.stdout)
    assert candidate and "back at the best" in held.stdout, held.stdout
    assert walk.head() == best and train.read_text() == best_text, "the checkout returns to the best"
    control = walk.bash(cmds["hold_rev"].replace("BEST", best[:7]))
    control_job = re.search(r"job (\S+) \(", control.stdout).group(1)
    status = walk.bash(cmds["status"]).stdout
    assert status.count("\nheld: ") == 2 and "`uv run scripts/experiment.py wait` starts them" in status

    waited = walk.bash(cmds["wait"], expect_rc=None, timeout_ms=RUN_TIMEOUT_MS)
    assert waited.stdout.count(": done") == 2, waited.stdout + waited.stderr
    jobs_dir = walk.root / ".autoresearch" / "jobs"
    records = {job_id: json.loads((jobs_dir / f"{job_id}.json").read_text()) for job_id in
               (candidate.group(1), control_job)}  # fmt: skip
    assert {r["slot"] for r in records.values()} == {0, 1}, "the two jobs ran side by side"
    assert records[control_job]["run"]["attested"], "the control's value is the runner's own score"
    assert records[candidate.group(1)]["run"]["commit"].startswith(candidate.group(2))

    record = cmds["record_job"].replace("JOB", control_job).replace(" discard ", " keep ")
    walk.bash(replace_last_quoted(record, "best, remeasured"))
    record = cmds["record_job"].replace("JOB", candidate.group(1))
    walk.bash(replace_last_quoted(record, f"{name} x0.9"))
    rows = walk.rows()
    assert [(r.commit, r.status) for r in rows] == [
        (best[:7], "keep"), (best[:7], "keep"), (candidate.group(2), "discard"),
    ]  # fmt: skip
    assert walk.head() == best and _git(walk.root, "status", "--porcelain") == ""
    assert not list((walk.root / ".autoresearch" / "worktrees").iterdir()), "every job's tree is gone"
    final = json.loads(walk.bash(cmds["status"] + " --json").stdout)
    assert final["best"]["commit"] == best[:7] and final["best"]["n"] >= 3  # two baseline runs + the control
    assert not final["jobs"] and not final["held_jobs"] and not final["unrecorded_jobs"]
