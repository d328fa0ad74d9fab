"""The Stop hook ("NEVER STOP"): real hook processes, real git repos, state written by the runner modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from autoresearch import keeper, loop
from loop_helpers import git, iso_ago, stop_payload


def reason_of(reply: dict | None) -> str:
    assert reply is not None, "expected the stop to be blocked"
    assert reply["decision"] == "block"
    return reply["reason"]


def assert_allowed(reply: dict | None) -> str:
    """An allowed stop: no decision. Returns the systemMessage shown to the human ('' when silent)."""
    assert reply is None or "decision" not in reply, reply
    return (reply or {}).get("systemMessage", "")


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


# --- blocked while active, with the right next step ---


def test_idle_loop_blocks_with_next_hypothesis(project):
    project.setup_state()
    project.measured_baseline(1.0)
    reason = reason_of(project.stop())
    assert "autoresearch run t1 on autoresearch/t1 is active" in reason
    assert "form the next hypothesis" in reason
    assert 'uv run .claude/lib/memory/memory_search.py "<topic>"' in reason
    assert "uv run scripts/experiment.py run" in reason
    assert "best val_bpb 1.000000" in reason
    assert ".autoresearch/STOP" in reason


def test_missing_baseline_repeats_come_first(project):
    project.setup_state()
    reason = reason_of(project.stop())
    assert "baseline 0/2 measured" in reason
    assert "form the next hypothesis" not in reason

    project.add_record(project.baseline, [1.0])
    assert "baseline 1/2 measured" in reason_of(project.stop())


def test_in_flight_run_alive_says_wait_with_pid_and_age(project, sleeper):
    project.setup_state()
    commit = project.commit_change("lr 0.05")
    project.start_flight(sleeper.pid, commit, minutes=4, seconds=10)
    reason = reason_of(project.stop())
    assert f"a run of {commit[:7]} is in flight for 4m1" in reason
    assert f"pid {sleeper.pid}" in reason
    assert "sleep 60; uv run scripts/experiment.py status" in reason
    assert "form the next hypothesis" not in reason


def test_in_flight_run_whose_process_is_gone(project):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    project.setup_state()
    project.start_flight(dead.pid, "a" * 40, minutes=20)
    reason = reason_of(project.stop())
    assert "interrupted" in reason
    assert "uv run scripts/experiment.py run" in reason


def test_finished_run_not_recorded(project):
    project.setup_state()
    project.measured_baseline(1.0)
    commit = project.commit_change("wider mlp")
    last = {
        "commit": commit,
        "base_commit": project.baseline,
        "outcome": "ok",
        "val_bpb": 0.98,
        "memory_gb": 12.5,
        "finished_at": iso_ago(seconds=5),
        "comparable": True,
        "recorded": False,
        "replicates": [0.98],
        "suggestion": "keep",
    }
    project.update_state(last_run=last)
    reason = reason_of(project.stop())
    assert (
        f'record the finished run of {commit[:7]}: uv run scripts/experiment.py record keep "<description>"'
        in reason
    )

    # the runner's own sentence wins when it wrote one
    project.update_state(
        last_run={**last, "next": 'record it: uv run scripts/experiment.py record keep "wider mlp"'}
    )
    assert 'record keep "wider mlp"' in reason_of(project.stop())

    project.update_state(last_run={**last, "recorded": True})
    assert "form the next hypothesis" in reason_of(project.stop())


def test_crashed_run_not_recorded(project):
    project.setup_state()
    project.measured_baseline(1.0)
    project.update_state(
        last_run={"commit": "b" * 40, "outcome": "crash", "val_bpb": None, "recorded": False}
    )
    assert 'record crash "<description>"' in reason_of(project.stop())


def test_blocks_even_after_cd_elsewhere(project, tmp_path):
    """A `cd /tmp` moves the payload's cwd; $CLAUDE_PROJECT_DIR still finds the loop."""
    project.setup_state()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out, _ = project.hook("stop", stop_payload(elsewhere), cwd=elsewhere)
    assert json.loads(out)["decision"] == "block"


# --- allowed: sentinel and budgets ---


def test_stop_sentinel_allows(project):
    project.setup_state()
    keeper.raise_stop(project.cfg)  # the human's `experiment.py stop`
    message = assert_allowed(project.stop())
    assert ".autoresearch/STOP exists" in message
    keeper.lower_stop(project.cfg)
    reason_of(project.stop())  # lowering it resumes the loop


def test_max_experiments_counts_rows_after_the_baseline(project):
    project.set_stop(max_experiments=3)
    project.setup_state()
    project.measured_baseline(1.0)
    project.add_row(project.baseline, 1.001, "keep", "baseline repeat")  # repeats do not count
    project.add_row("1111111", 0.99, "keep", "a")
    project.add_row("2222222", 1.2, "discard", "b")
    assert "experiments 2/3" in reason_of(project.stop())
    project.add_row("3333333", 0.0, "crash", "c")
    message = assert_allowed(project.stop())
    assert "max_experiments reached (3 after the baseline, limit 3)" in message


def test_max_hours(project):
    project.set_stop(max_hours=2.0)
    project.setup_state(created_at=iso_ago(hours=1))
    assert "hours 1.00/2" in reason_of(project.stop())
    project.update_state(created_at=iso_ago(hours=2, minutes=1))
    assert "max_hours reached" in assert_allowed(project.stop())


@pytest.mark.parametrize(
    "direction, target, kept, met",
    [
        ("lower", 0.95, 0.96, False),
        ("lower", 0.95, 0.95, True),
        ("lower", 0.95, 0.90, True),
        ("higher", 0.95, 0.90, False),
        ("higher", 0.95, 0.97, True),
    ],
)
def test_target_metric_is_direction_aware(project, direction, target, kept, met):
    project.set_direction(direction)
    project.set_stop(target_metric=target)
    project.setup_state()
    project.measured_baseline(1.0 if direction == "lower" else 0.5)
    project.add_row("1111111", kept, "keep", "kept idea")
    project.add_row("2222222", 0.10 if direction == "lower" else 5.0, "discard", "discarded rows never count")
    reply = project.stop()
    if met:
        assert "target_metric reached" in assert_allowed(reply)
    else:
        assert "target val_bpb" in reason_of(reply)


def test_met_budget_still_waits_for_the_in_flight_run(project, sleeper):
    project.set_stop(max_hours=1.0)
    project.setup_state(created_at=iso_ago(hours=3))
    project.start_flight(sleeper.pid, "c" * 40, minutes=1)
    reason = reason_of(project.stop())
    assert reason.startswith("Stop requested (max_hours reached")
    assert "in flight" in reason and "without a new experiment" in reason
    project.update_state(in_flight=None)
    assert "max_hours reached" in assert_allowed(project.stop())


def test_stop_sentinel_waits_for_the_in_flight_run_then_allows(project, sleeper):
    """STOP is a graceful stop: the run already paid for lands in results.tsv first."""
    project.setup_state()
    project.measured_baseline(1.0)
    commit = project.commit_change("depth 4")
    project.start_flight(sleeper.pid, commit, minutes=2)
    keeper.raise_stop(project.cfg)
    reason = reason_of(project.stop())
    assert reason.startswith("Stop requested (.autoresearch/STOP exists")
    assert f"a run of {commit[:7]} is in flight" in reason and "then record it" in reason
    assert "form the next hypothesis" not in reason
    project.update_state(in_flight=None)
    assert ".autoresearch/STOP exists" in assert_allowed(project.stop())


# --- never spin ---


def test_spin_cap_allows_after_blocks_without_progress(project):
    project.setup_state()
    project.measured_baseline(1.0)
    assert "blocked 1/5" in reason_of(project.stop(active=False))
    for n in range(2, loop.SPIN_CAP + 1):
        assert f"blocked {n}/5" in reason_of(project.stop(active=True))
    message = assert_allowed(project.stop(active=True))
    assert "after 5 blocked stops in a row without progress" in message
    assert_allowed(project.stop(active=True))  # stays allowed while nothing changes

    project.add_row("1111111", 0.99, "keep", "progress: a new row")
    assert "blocked 1/5" in reason_of(project.stop(active=True))


def test_spin_counter_resets_on_a_fresh_stop_and_on_a_commit(project):
    project.setup_state()
    project.measured_baseline(1.0)
    for _ in range(loop.SPIN_CAP):
        project.stop(active=True)
    assert "without progress" in assert_allowed(project.stop(active=True))
    assert "blocked 1/5" in reason_of(project.stop(active=False))  # a human turn in between
    for _ in range(loop.SPIN_CAP - 1):
        project.stop(active=True)
    project.commit_change("an edit and a commit are progress")
    assert "blocked 1/5" in reason_of(project.stop(active=True))


def test_hook_caps_before_claude_codes_own_cap_of_8():
    assert loop.SPIN_CAP < 8


# --- does nothing outside an active run ---


def test_off_branch_is_a_no_op(project):
    project.setup_state()
    git(project.root, "checkout", "-q", "master")
    assert project.hook("stop", stop_payload(project.root)) == ("", "")


def test_detached_head_is_a_no_op(project):
    project.setup_state()
    git(project.root, "checkout", "-q", "--detach")
    assert project.stop() is None


def test_no_state_is_a_no_op(project):
    assert project.hook("stop", stop_payload(project.root)) == ("", "")
    assert not project.cfg.state_path.exists()  # no counter file either


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"version": 99, "tag": "t1", "branch": "autoresearch/t1"}',
        '{"version": 1}',
        "\x00\xff",
    ],
)
def test_malformed_state_is_a_no_op(project, content):
    project.cfg.state_path.mkdir()
    project.cfg.state_file.write_text(content, encoding="latin-1")
    assert project.stop() is None


def test_malformed_results_tsv_still_blocks_and_names_the_fix(project):
    project.setup_state()
    with project.cfg.results_path.open("a") as fh:
        fh.write("not\ta valid row\n")
    assert "fix results.tsv first" in reason_of(project.stop())


# --- malformed stdin: the stop is allowed, silently, never a traceback ---


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\x00\x01\xfe\xff binary \x80",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"hook_event_name": "Stop"}',  # no stop_hook_active
        b'{"stop_hook_active": "yes"}',  # wrong type
        b"[" * 100_000,  # deep nesting
    ],
)
def test_malformed_stdin_allows_silently(project, raw):
    project.setup_state()
    out, _ = project.hook("stop", raw=raw)
    assert out == ""


def test_huge_stdin_allows_silently(project):
    project.setup_state()
    huge = json.dumps(stop_payload(project.root, last_assistant_message="x" * (loop.MAX_STDIN_BYTES + 10)))
    out, _ = project.hook("stop", raw=huge.encode())
    assert out == ""


def test_large_but_legal_last_message_still_blocks(project):
    project.setup_state()
    assert project.stop(last_assistant_message="y" * 2_000_000)["decision"] == "block"


def test_broken_library_fails_open(project):
    """A hook whose library cannot import still exits 0 with no decision (and says why on stderr)."""
    project.setup_state()
    (project.root / ".claude" / "lib" / "autoresearch" / "loop.py").write_text(
        "raise ImportError('broken')\n"
    )
    out, err = project.hook("stop", stop_payload(project.root))
    assert out == ""
    assert "ImportError: broken" in err


def test_malformed_config_allows_and_session_start_names_it(project):
    project.setup_state()
    (project.root / "pyproject.toml").write_text("[tool.autoresearch\nbroken = ")
    assert project.hook("stop", stop_payload(project.root)) == ("", "")
    context = project.session_start("startup")
    assert "loop context unavailable" in context and "is not valid TOML" in context
    assert project.pre_compact() == ""
    assert not (project.root / ".autoresearch" / "snapshots").exists()
