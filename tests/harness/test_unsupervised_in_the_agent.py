"""Inside Claude Code, a train.py started by anything but the runner still keeps its output in run.log, never
in the agent's context, because it imports the harness. Real subprocesses, the real prepare.py, a train.py
that imports it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from autoresearch import config

REPO = Path(__file__).resolve().parents[2]
TRAIN = 'import prepare\nprint("TRAIN-MARK budget", prepare.TIME_BUDGET, flush=True)\n'


@pytest.fixture
def project(tmp_path):
    shutil.copy(REPO / "prepare.py", tmp_path / "prepare.py")
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def _run(project: Path, shell_redirect: str = "", **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CLAUDECODE", config.SUPERVISED_ENV)}
    env.update({config.TIME_BUDGET_ENV: "1", **env_extra})
    command = f"{sys.executable} train.py {shell_redirect}"
    return subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_unredirected_in_the_agent_the_output_goes_to_run_log(project):
    (project / "run.log").write_text("the last run's log\n")
    done = _run(project, CLAUDECODE="1")
    assert done.returncode == 0, done.stderr
    assert "TRAIN-MARK" not in done.stdout + done.stderr, "training output reached the call"
    assert done.stderr.count("\n") == 1 and "output goes to run.log" in done.stderr
    log = (project / "run.log").read_text()
    assert "TRAIN-MARK budget 1" in log, "the human's test override still holds (the runner flags it)"
    assert log.startswith("the last run's log\n"), "appended: nothing of the last run is lost"


ELSEWHERE = ["| tail -5", "> /dev/null 2>&1", "2>&1 | cat", "> $TMPDIR/tasks/b0a1.output 2>&1"]


@pytest.mark.parametrize("redirect", ELSEWHERE)
def test_every_other_destination_is_run_log_too(project, tmp_path_factory, redirect):
    tmp = tmp_path_factory.mktemp("elsewhere")
    (tmp / "tasks").mkdir()  # where the client captures a background call's output for the model
    done = _run(project, redirect, CLAUDECODE="1", TMPDIR=str(tmp))
    assert "TRAIN-MARK" not in done.stdout + done.stderr
    assert "TRAIN-MARK budget 1" in (project / "run.log").read_text()


@pytest.mark.parametrize("log", ["run.log", "$TMPDIR/run2.log"])
def test_a_run_into_a_file_is_left_as_it_is(project, tmp_path_factory, log):
    tmp = tmp_path_factory.mktemp("tmpdir")
    done = _run(project, f"> {log} 2>&1", CLAUDECODE="1", TMPDIR=str(tmp))  # the seed's, or a scratch log
    assert done.returncode == 0 and done.stdout == done.stderr == ""
    text = Path(log.replace("$TMPDIR", str(tmp)) if "$" in log else project / log).read_text()
    assert "TRAIN-MARK budget 1" in text and "goes to run.log" not in text


@pytest.mark.parametrize("env", [{config.SUPERVISED_ENV: "1", "CLAUDECODE": "1"}, {}])
def test_under_the_runner_or_outside_claude_code_nothing_changes(project, env):
    done = _run(project, **env)
    assert "TRAIN-MARK budget 1" in done.stdout, done.stdout + done.stderr  # the override, honoured
    assert not (project / "run.log").exists()


def test_the_marker_has_one_name():
    sys.path.insert(0, str(REPO))
    try:
        import prepare
    finally:
        sys.path.pop(0)
    assert prepare.SUPERVISED_ENV == config.SUPERVISED_ENV
    assert f'"{config.SUPERVISED_ENV}"' in (REPO / ".claude/lib/autoresearch/evaluator.py").read_text()
    assert prepare.LOG_FILE == config.Config(root=REPO).log_file
