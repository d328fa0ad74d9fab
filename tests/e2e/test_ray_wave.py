"""The skill's wave, unchanged, on `backend = "ray"`, driven through the real client with its Bash sandbox on
and a real local Ray head on 127.0.0.1 (tests/ray_head.py).

The sandboxed calls cannot reach the head (the first call shows it): each job is held inside the call, and
the PostToolUse hook starts its supervisor outside the sandbox (autoresearch.dispatch), where it submits the
Ray job, streams its log and brings the attested result back into the job's record for `wait` to read."""

from __future__ import annotations

import json
import re

import pytest
from autoresearch import attest, config, ledger
from claude_harness import block_text, install_recorder, make_repo_copy, recorder_log, run_claude
from fakeapi import Conductor, tool
from test_claude_code import BASH_TIMEOUT_MS, TRAIN_BUDGET_SECONDS, assert_ran, git, setup_active_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLI = "uv run scripts/experiment.py"
JOB_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{7}-[0-9a-f]{4}")


def _results(body: dict) -> dict[str, str]:
    """tool_use_id -> the text of its result, from the request's history."""
    found = {}
    for message in body.get("messages", []):
        if message.get("role") == "user" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    found[block["tool_use_id"]] = block_text(block.get("content"))
    return found


def test_the_wave_runs_on_ray_from_inside_the_sandbox(claude_cli, tmp_path, embedded_cache, ray_cluster):
    repo = make_repo_copy(tmp_path)
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    for old, new in (
        ("workers = 1 ", "workers = 2 "),
        ('backend = "local"', 'backend = "ray"'),
        ('address = ""', f'address = "{ray_cluster.address}"'),
        ("baseline_repeats = 2", "baseline_repeats = 1"),
    ):
        assert old in text, f"pyproject.toml lost {old!r}"
        text = text.replace(old, new, 1)
    pyproject.write_text(text)
    prepare = repo / "prepare.py"  # a test-sized budget in the harness itself, so the baseline can be kept
    sized, count = re.subn(r"^TIME_BUDGET_SECONDS = \d+", f"TIME_BUDGET_SECONDS = {TRAIN_BUDGET_SECONDS}",
                           prepare.read_text(), flags=re.M)  # fmt: skip
    assert count == 1, "prepare.py lost its TIME_BUDGET_SECONDS constant"
    prepare.write_text(sized)
    git(repo, "commit", "-qam", "a Ray night")
    install_recorder(repo, recorder_log(repo))
    setup_active_run(repo, embedded_cache)
    baseline = git(repo, "rev-parse", "HEAD").strip()

    idea = 'echo "# idea {0}" >> train.py && git add train.py && git commit -qm "exp: idea {0}" && {1} submit'
    idea += " --hold"
    calls = [
        tool("Bash", command=f"curl -sS -m 5 {ray_cluster.address}/api/version; echo curl-exit=$?"),
        tool("Bash", command=f"{CLI} run"),
        tool("Bash", command=f"{CLI} wait", timeout=BASH_TIMEOUT_MS),
        tool("Bash", command=f'{CLI} record keep "baseline"'),
        tool("Bash", command=idea.format("a", CLI)),
        tool("Bash", command=idea.format("b", CLI)),
        tool("Bash", command=f"{CLI} wait", timeout=BASH_TIMEOUT_MS),
    ]
    records = []

    def decide(body: dict, index: int):
        if index < len(calls):
            return [calls[index]]
        if index < len(calls) + 2:  # record each wave job by the id its submit printed
            which = index - len(calls)
            submitted = _results(body)[calls[4 + which]["id"]]
            job_id = JOB_ID.search(submitted).group(0)
            records.append(tool("Bash", command=f'{CLI} record --job {job_id} discard "idea {"ab"[which]}"'))
            return [records[-1]]
        return "The Ray wave is done."

    script = Conductor(decide)
    env = {"AUTORESEARCH_CACHE": str(embedded_cache)}
    run = run_claude(claude_cli, repo, script, mode="bypassPermissions", extra_env=env, timeout=900)
    assert run.returncode == 0 and not script.errors, run.describe() + "".join(script.errors)

    curl = run.result_text(calls[0])
    assert "curl-exit=0" not in curl or '"version"' not in curl, f"the call itself reached the head: {curl}"
    held = assert_ran(run, calls[1])
    assert "held: a Ray job starts when this Bash call ends" in held, held
    baseline_run = assert_ran(run, calls[2])
    assert "run: ok" in baseline_run and "ran on the Ray cluster" in baseline_run, baseline_run[-2000:]
    assert_ran(run, calls[3])
    for call in calls[4:6]:
        assert "back at the best" in assert_ran(run, call)
    waited = assert_ran(run, calls[6])
    assert waited.count("run: ok") == 2, waited[-3000:]
    for call in records:
        assert_ran(run, call)

    jobs = [json.loads(p.read_text()) for p in (repo / ".autoresearch" / "jobs").glob("*.json")]
    wave = [j for j in jobs if j["commit"] != baseline]
    assert len(jobs) == 3 and len({j["commit"] for j in wave}) == 2, jobs
    assert all(j["run"]["attested"] and j["run"]["attestation"]["probe"]["ok"] for j in jobs), "on the worker"
    assert attest.artifact_path(config.load(repo), baseline).is_file(), "the baseline's model came back"
    log = (repo / wave[0]["run"]["log"]).read_text()
    assert "step 0" in log and "AUTORESEARCH-" not in log, "the streamed log, without the marked lines"
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.address)
    spans = [client.get_job_info(j["ray_submission"]) for j in wave]
    assert max(s.start_time for s in spans) < min(s.end_time for s in spans), "the two ran at the same time"
    rows = ledger.read_rows(repo / "results.tsv")
    assert [r.status for r in rows] == ["keep", "discard", "discard"] and rows[0].commit == baseline[:7]
    assert {r.commit for r in rows[1:]} == {j["commit"][:7] for j in wave}, "one row per job"
    sidecar = [r for r in ledger.read_records(repo / ".autoresearch" / "runs.jsonl") if r.get("status")]
    assert [r["attested"] for r in sidecar] == [True, True, True]
    assert git(repo, "rev-parse", "HEAD").strip() == baseline
