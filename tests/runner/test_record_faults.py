"""`record` is exactly-once: SIGKILL it at any step, or at a random moment, and the next command completes it.

Every case is judged by effect: the rows in results.tsv, the sidecar's records, HEAD, and state.json."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
from autoresearch import config, ledger, runner
from runner_helpers import CLI, clean_env, git, make_night

pytestmark = pytest.mark.slow


def _night_with_a_run(tmp_path, val="1.400000"):
    """Set up, record the baseline, then commit an experiment and run it: `record` has work to do."""
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    assert night.cli("run").returncode == 0
    assert night.cli("record", "keep", "baseline").returncode == 0
    night.write("idea.txt", "one idea\n")
    return night, _run_experiment(night, val)


def _run_experiment(night, val):
    commit = night.commit(f"idea {val}", "idea.txt")
    proc = night.cli("run", env=clean_env(FAKE_VAL=val))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return commit


def _rows(night):
    return ledger.read_rows(night.root / "results.tsv")


def _sidecar(night):
    return [r for r in ledger.read_records(night.root / ".autoresearch" / "runs.jsonl") if r.get("status")]


def _expect_recorded_once(night, commit, word, base):
    rows = [r for r in _rows(night) if commit.startswith(r.commit)]
    assert len(rows) == 1 and rows[0].status == word, _rows(night)
    assert len([r for r in _sidecar(night) if r["commit"] == commit]) == 1
    last = night.state()["last_run"]
    assert last["commit"] == commit and last["recorded"] and last["status"] == word
    assert night.head() == (base if word == "discard" else commit)
    assert not config.load(night.root).record_intent_path.exists()


@pytest.mark.parametrize("step", runner.RECORD_STEPS)
@pytest.mark.parametrize("word", ["discard", "keep"])
def test_a_record_killed_after_each_step_is_completed_by_the_next_command(tmp_path, step, word):
    night, commit = _night_with_a_run(tmp_path, val="1.400000" if word == "keep" else "1.600000")
    base = night.state()["last_run"]["base_commit"]
    killed = night.cli("record", word, "the idea", env=clean_env(**{runner.FAULT_ENV: f"record:{step}"}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    status = night.cli("status")  # any command completes the journaled record first
    assert status.returncode == 0, status.stderr
    assert "completed an interrupted record" in status.stderr
    _expect_recorded_once(night, commit, word, base)
    retry = night.cli("record", word, "the idea")  # the agent retries the same call: no second row
    assert retry.returncode == 0, retry.stderr
    _expect_recorded_once(night, commit, word, base)


def test_a_retried_record_completes_the_interrupted_one_itself(tmp_path):
    night, commit = _night_with_a_run(tmp_path, val="1.600000")
    base = night.state()["last_run"]["base_commit"]
    env = clean_env(**{runner.FAULT_ENV: "record:row"})
    assert night.cli("record", "discard", "the idea", env=env).returncode == -signal.SIGKILL
    retry = night.cli("record", "discard", "the idea")
    assert retry.returncode == 0 and "recorded:" in retry.stdout, retry.stderr
    _expect_recorded_once(night, commit, "discard", base)
    other = night.cli("record", "keep", "another word")  # a different call is refused, not a second row
    assert other.returncode == 1 and "already recorded" in other.stderr
    _expect_recorded_once(night, commit, "discard", base)


def test_sixty_records_killed_at_random_moments_each_leave_exactly_one_row(tmp_path):
    rng = random.Random(20261201)
    night, commit = _night_with_a_run(tmp_path, val="1.600000")
    base = night.state()["last_run"]["base_commit"]
    # how long a whole record takes here: the kills land anywhere from its start to just past its end
    t0 = time.monotonic()
    probe = subprocess.Popen([sys.executable, str(CLI), "status"], cwd=night.root, env=clean_env())
    probe.wait()
    span = (time.monotonic() - t0) * 2.5
    killed_mid, completed_later = 0, 0
    intent = config.load(night.root).record_intent_path
    for i in range(60):
        word = "discard"
        proc = subprocess.Popen(
            [sys.executable, str(CLI), "record", word, f"idea {i}"],
            cwd=night.root,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if i % 2:  # anywhere: start-up, validation, the steps, or after the end
            time.sleep(rng.uniform(0, span))
        else:  # inside the journaled steps: once the intent is on disk, within the next few milliseconds
            while not intent.exists() and proc.poll() is None:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait()
        killed_mid += rc == -signal.SIGKILL
        after = night.cli("status")
        assert after.returncode == 0, after.stderr
        completed_later += "completed an interrupted record" in after.stderr
        last = night.state()["last_run"]
        if not last["recorded"]:  # killed before its intent was journaled: nothing happened yet
            assert not [r for r in _rows(night) if commit.startswith(r.commit)]
            assert night.cli("record", word, f"idea {i}").returncode == 0
        _expect_recorded_once(night, commit, word, base)
        assert len(_rows(night)) == i + 2  # the baseline and one row per experiment, never two
        night.write("idea.txt", f"idea {i + 1}\n")
        commit = _run_experiment(night, "1.600000")
        base = night.state()["last_run"]["base_commit"]
    print(f"of 60 kills, {killed_mid} landed before `record` ended, {completed_later} after its intent")
    assert killed_mid >= 20, f"only {killed_mid} of 60 kills landed before the record ended"
    assert completed_later >= 10, f"only {completed_later} kills landed between the intent and the end"
    assert git(night.root, "status", "--porcelain") == ""
    assert night.state()["last_run"]["recorded"] is False  # the last experiment's run waits for its record
