"""Several jobs at once: `workers = 2` runs each job in its own worktree at its own commit, keeps both slots
busy, and the ledger still ends exactly right. Real git, real processes, two real CPU cores."""

from __future__ import annotations

import json
import time

import pytest
from autoresearch import jobs
from runner_helpers import REPO_ROOT, TRAIN_OK, clean_env, git, make_night

pytestmark = pytest.mark.slow

SLEEP_S = 10  # each job trains this long: long against the 0.05 s slot poll and a submit call's latency


def _train(val: float) -> str:
    """The fake trainer with its own val_bpb baked in: a job's verdict shows which commit's code it ran."""
    body = TRAIN_OK.format(lib=str(REPO_ROOT / ".claude" / "lib"))
    return body.replace('os.environ.get("FAKE_VAL", "1.500000")', f'"{val:.6f}"')


def _records(night) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (night.root / ".autoresearch" / "jobs").glob("*.json")}


def _night_with_baseline(tmp_path, workers=2):
    night = make_night(tmp_path, timeout=60, workers=workers, train=_train(1.5))
    assert night.cli("setup").returncode == 0
    ran = night.cli("run")  # with workers > 1 even `run` is a job in a worktree: recorded without --job
    assert ran.returncode == 0 and "record --job" in ran.stdout, ran.stdout + ran.stderr
    kept = night.cli("record", "keep", "baseline")
    assert kept.returncode == 0, kept.stderr
    return night


def test_a_wave_of_four_keeps_both_slots_busy_and_the_ledger_ends_exactly_right(tmp_path):
    night = _night_with_baseline(tmp_path)
    baseline = night.head()
    values = {"lr up": 1.52, "wider": 1.40, "deeper": 1.51, "no bias": 1.55}
    submitted = {}
    for idea, val in values.items():
        commit = night.train(_train(val), idea)
        proc, job = night.json("submit", env=clean_env(FAKE_SLEEP=str(SLEEP_S)))
        assert proc.returncode == 0, proc.stderr
        assert job["commit"] == commit and job["worktree"] and job["base_commit"] == baseline
        assert night.head() == baseline, "the checkout goes back to the best after a wave submit"
        submitted[idea] = job["id"]

    waited = night.cli("wait", timeout=200)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert waited.stdout.count(": done") == 4

    records = _records(night)
    wave = [records[i] for i in submitted.values()]
    for (idea, val), job in zip(values.items(), wave, strict=True):
        assert job["state"] == "done" and job["error"] is None
        assert job["run"]["commit"] == job["commit"] and job["run"]["subject"] == idea
        assert job["verdict"]["val_bpb"] == pytest.approx(val)  # its own commit's code ran
    assert {j["slot"] for j in wave} == {0, 1}
    assert len({j["device"] for j in wave}) == 2, "each slot is pinned to its own share of the cores"

    # the scheduler: both slots busy at least 95 % of the wave's wall time
    start = min(j["slot_held"][0] for j in wave)
    end = max(j["slot_held"][1] for j in wave)
    busy = sum(j["slot_held"][1] - j["slot_held"][0] for j in wave)
    share = busy / (2 * (end - start))
    print(f"slots busy {share:.1%} of {end - start:.1f} s")
    assert share >= 0.95, f"the slots were busy only {share:.1%} of the wave"

    assert not list((night.root / ".autoresearch" / "worktrees").iterdir()), "every job's tree is gone"
    refused = night.cli("record", "keep", "a wave needs a job id")
    assert refused.returncode == 1 and "record --job" in refused.stderr
    for idea, job_id in submitted.items():
        word = "keep" if idea == "wider" else "discard"
        done = night.cli("record", "--job", job_id, word, idea)
        assert done.returncode == 0, done.stderr
    assert night.cli("record", "--job", submitted["wider"], "keep", "wider").returncode == 0  # retried: once

    rows = (night.root / "results.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[3:] for r in rows] == [
        ["keep", "baseline"],
        ["discard", "lr up"],
        ["keep", "wider"],
        ["discard", "deeper"],
        ["discard", "no bias"],
    ]
    wider = records[submitted["wider"]]["commit"]
    assert night.head() == wider, "the keep moved the checkout to the job's commit"
    assert night.state()["incumbent_commit"] == wider
    assert not git(night.root, "status", "--porcelain")
    for job in wave:  # every idea of the night stays reachable for the report
        ref = f"refs/autoresearch/*/{job['commit']}"
        assert git(night.root, "for-each-ref", "--format=%(objectname)", ref) == job["commit"]
    assert all(j.recorded for j in jobs.all_jobs(jobs_cfg(night)) if j.worktree)


def jobs_cfg(night):
    from autoresearch import config

    return config.load(night.root)


def test_a_keep_after_the_best_moved_is_a_near_miss(tmp_path):
    night = _night_with_baseline(tmp_path)
    ids = []
    for idea, val in (("a", 1.40), ("b", 1.41)):
        night.train(_train(val), idea)
        proc, job = night.json("submit")
        assert proc.returncode == 0, proc.stderr
        ids.append(job["id"])
    assert night.cli("wait", *ids, timeout=120).returncode == 0
    assert night.cli("record", "--job", ids[0], "keep", "a").returncode == 0
    late = night.cli("record", "--job", ids[1], "keep", "b")
    assert late.returncode == 1 and "near-miss" in late.stderr and "cherry-pick" in late.stderr
    assert late.stderr.count("\n") == 1
    assert night.cli("record", "--job", ids[1], "discard", "b (near-miss)").returncode == 0
    assert len((night.root / "results.tsv").read_text().splitlines()) == 1 + 3


def test_a_remeasure_of_a_commit_that_is_not_head_runs_beside_with_one_worker(tmp_path):
    night = make_night(tmp_path, timeout=60, train=_train(1.5))
    assert night.cli("setup").returncode == 0
    baseline = night.head()
    assert night.cli("run").returncode == 0 and night.cli("record", "keep", "baseline").returncode == 0
    night.train(_train(1.45), "idea")
    proc, job = night.json("submit", baseline[:7])  # the best, remeasured while HEAD is the next idea
    assert proc.returncode == 0 and job["worktree"] and job["commit"] == baseline, proc.stderr
    assert night.cli("wait", job["id"], timeout=120).returncode == 0
    again = night.cli("record", "--job", job["id"], "keep", "baseline remeasured")
    assert again.returncode == 1 and "HEAD is" in again.stderr  # HEAD holds an unsubmitted idea
    git(night.root, "reset", "-q", "--hard", baseline)
    assert night.cli("record", "--job", job["id"], "keep", "baseline remeasured").returncode == 0
    rows = (night.root / "results.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[3] for r in rows] == ["keep", "keep"]
    status = night.cli("status", "--json")
    best = json.loads(status.stdout)["best"]
    assert best["commit"] == baseline[:7] and best["n"] == 2  # the bar is the mean of both runs


def test_workers_config_is_checked(tmp_path):
    night = make_night(tmp_path, workers=0)
    proc = night.cli("status")
    assert proc.returncode == 1 and "workers must be 1 or more" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_killed_supervisor_of_a_worktree_job_is_cleaned_up_by_the_next_submit(tmp_path):
    import os
    import signal

    import psutil

    night = _night_with_baseline(tmp_path)
    night.train(_train(1.4), "hangs")
    proc, job = night.json("submit", env=clean_env(FAKE_SLEEP="120"))
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 30
    while not (record := _records(night)[job["id"]]).get("pgid"):
        assert time.monotonic() < deadline, record
        time.sleep(0.05)
    train_pid = record["pgid"]
    os.kill(record["supervisor_pid"], signal.SIGKILL)
    while psutil.pid_exists(record["supervisor_pid"]):
        try:
            if psutil.Process(record["supervisor_pid"]).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    assert psutil.pid_exists(train_pid), "train.py outlives its SIGKILLed supervisor until someone cleans up"

    night.train(_train(1.41), "next idea")
    proc, second = night.json("submit")
    assert proc.returncode == 0, proc.stderr
    dead = _records(night)[job["id"]]
    assert dead["state"] == "done" and "supervisor stopped" in dead["error"]
    assert not psutil.pid_exists(train_pid) or psutil.Process(train_pid).status() == psutil.STATUS_ZOMBIE
    assert not (night.root / job["worktree"]).exists()
    assert night.cli("wait", second["id"], timeout=120).returncode == 0
    assert night.cli("record", "--job", second["id"], "discard", "next idea").returncode == 0


def test_a_crashed_wave_job_keeps_its_log_and_the_report_shows_it(tmp_path):
    from autoresearch import report_page

    night = _night_with_baseline(tmp_path)
    night.train('raise SystemExit("wave job crashed on purpose")\n', "a broken idea")
    proc, job = night.json("submit")
    assert proc.returncode == 0, proc.stderr
    waited = night.cli("wait", job["id"], timeout=120)
    assert waited.returncode == 1 and "crashed on purpose" in waited.stdout  # the verdict's tail
    assert night.cli("record", "--job", job["id"], "crash", "a broken idea").returncode == 0
    page = report_page.gather(jobs_cfg(night))
    crashed = [e for e in page["experiments"] if e["status"] == "crash"]
    assert len(crashed) == 1 and "crashed on purpose" in (crashed[0]["log"] or ""), crashed
    assert crashed[0]["log_path"] == f".autoresearch/logs/{job['id']}.log"
    assert crashed[0]["reachable"] and "+raise SystemExit" in crashed[0]["diff"]  # its code, off the branch


def test_a_finished_job_whose_record_is_deleted_is_still_recorded_once(tmp_path):
    night = _night_with_baseline(tmp_path)
    night.train(_train(1.45), "an idea")
    proc, job = night.json("submit")
    assert proc.returncode == 0, proc.stderr
    assert night.cli("wait", job["id"], timeout=120).returncode == 0
    (night.root / ".autoresearch" / "jobs" / f"{job['id']}.json").unlink()  # as a sandboxed `rm` could
    done = night.cli("record", "--job", job["id"], "keep", "an idea")
    assert done.returncode == 0, done.stderr
    rows = (night.root / "results.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[3:] for r in rows] == [["keep", "baseline"], ["keep", "an idea"]]
    assert night.head() == job["commit"]
    again = night.cli("record", "--job", job["id"], "keep", "an idea")
    assert again.returncode == 1 and again.stderr.count("\n") == 1  # no second row from the copy
    assert len((night.root / "results.tsv").read_text().splitlines()) == 3
    best = json.loads(night.cli("status", "--json").stdout)["best"]
    assert best["commit"] == job["commit"][:7] and best["n"] == 1  # the pending copy is not counted twice
