"""End-to-end: the keeper (autoresearch.keeper) keeps the night's data through the real client's sandbox.

The copy carries the shipped `.claude/settings.json`; only its `pyproject.toml` switches the guide's
`keep-untracked-data` rule off (a human's setting), so every destructive command below really runs, as if the
guide had missed it, and what stands between it and the night's data is the wall: the keeper's hooks, which
run outside the sandbox and journal into a vault the sandboxed shell cannot write. After each destruction the
scripted model prints the ledger and the digests of the state, the sidecar and the memory: they must match
what it printed before, exactly. `record` and the memory CLI run inside the sandbox in the same session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from claude_harness import UV_IN_COPY, client_home, install_recorder, make_repo_copy, recorder_log, run_claude
from fakeapi import Script, tool

pytestmark = pytest.mark.e2e

CLI = "uv run scripts/experiment.py"
MEMORY_CLI = "uv run .claude/lib/memory/memory_search.py"
QUICK_MS = 120000
EARLIER_ROWS = [  # rows of earlier experiments (unattested, as the seed's `echo >>` writes them)
    "1111111\t1.010000\t0.1\tdiscard\tearlier: lr 0.02",
    "2222222\t1.005000\t0.1\tdiscard\tearlier: depth 6",
]
# What the scripted model prints to show the night's data: the ledger itself, then digests of the rest.
SHOW = (
    "cat results.tsv && echo --- && sha256sum .autoresearch/state.json .autoresearch/runs.jsonl "
    ".claude/context/memory/learnings.md 2>&1; true"
)
# A delayed delete, started in one call and striking during a later one: as a client background task (it
# outlives the call), and as a shell `&` job (the sandbox ends it with the call: measured, docs/guards.md).
DELAYED = "sleep 2; rm -f results.tsv .claude/context/memory/learnings.md"


def quick(command: str, **extra) -> dict:
    return tool("Bash", command=command, timeout=QUICK_MS, **extra)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def prepare_night(repo: Path, cache: Path) -> None:
    """The human's steps before the night: the guide's data rule off, setup, one supervised baseline run
    (left unrecorded for the agent), two earlier rows; all outside the client."""
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    assert "disabled_rules = []" in text
    pyproject.write_text(text.replace("disabled_rules = []", 'disabled_rules = ["keep-untracked-data"]', 1))
    git(repo, "commit", "-q", "-am", "e2e: the guide's keep-untracked-data rule off; the keeper stays")
    install_recorder(repo, recorder_log(repo))  # a guard file: it must exist before setup hashes them
    env = dict(os.environ, **UV_IN_COPY, AUTORESEARCH_CACHE=str(cache), AUTORESEARCH_TIME_BUDGET="1")
    for args in (["setup", "--tag", "e2e", "--baseline-repeats", "1"], ["run"]):
        done = subprocess.run(
            ["uv", "run", "scripts/experiment.py", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    with (repo / "results.tsv").open("a") as fh:
        fh.write("".join(row + "\n" for row in EARLIER_ROWS))


def test_the_keeper_keeps_the_night_through_the_sandboxed_client(claude_cli, tmp_path, embedded_cache):
    repo = make_repo_copy(tmp_path)
    prepare_night(repo, embedded_cache)
    vault_base = client_home(repo) / ".local" / "state" / "autoresearch"

    title = "e2e keeper learning through the memory CLI"
    memory_add = quick(f'{MEMORY_CLI} add --kind learning --title "{title}" --text "Added in the sandbox."')
    shows = [quick(SHOW) for _ in range(7)]
    destroy = {
        "git clean": quick("git clean -fdx"),
        "gzip": quick("gzip results.tsv && ls"),
        "rm -rf": quick("rm -rf .autoresearch"),
        "background": quick(DELAYED, run_in_background=True),
        "& job": quick(f"({DELAYED}) > /dev/null 2>&1 &"),
        "record; rm": quick(f'{CLI} record discard "baseline under the e2e budget"; rm results.tsv'),
    }
    wait = quick("sleep 5")
    # The vault itself: the sandboxed shell and the file tools cannot write it.
    # named in the command: the settings' Edit(~/.local/state/autoresearch/**) rule refuses it as text
    vault_named = quick(f"touch {vault_base}/probe")
    # built at run time: the rule cannot see it, the sandbox refuses it
    vault_probe = quick(
        "python3 -c \"import os; p = os.path.expanduser('~') + '/.local/' + 'state/autoresearch'; "
        "os.makedirs(p, exist_ok=True); open(p + '/probe2', 'w').write('x')\""
    )
    write_vault = tool("Write", file_path=str(vault_base / "probe3"), content="x")
    script = Script(
        [
            [memory_add],
            [shows[0]],
            [destroy["git clean"]],
            [shows[1]],
            [destroy["gzip"]],
            [shows[2]],
            [destroy["rm -rf"]],
            [shows[3]],
            [destroy["& job"]],
            [destroy["background"]],
            [shows[4]],  # the delete has not happened yet
            [wait],  # it happens during this call; the keeper puts things back after it
            [shows[5]],
            [destroy["record; rm"]],
            [shows[6]],
            [vault_named, vault_probe, write_vault],
            "Night paused.",
        ]
    )
    env = {"AUTORESEARCH_CACHE": str(embedded_cache), "BASH_DEFAULT_TIMEOUT_MS": str(QUICK_MS)}
    run = run_claude(claude_cli, repo, script, mode="bypassPermissions", extra_env=env)
    assert run.returncode == 0, run.describe()
    refused = {d.get("tool_use_id") for d in run.denials}
    assert refused <= {vault_named["id"], write_vault["id"]}, run.describe()

    # The memory CLI writes inside the sandbox.
    assert run.result_text(memory_add).startswith("added L-0001 to learnings.md"), run.describe()
    reference = run.result_text(shows[0])
    rows = reference.split("---")[0].strip().splitlines()
    assert rows[1:] == EARLIER_ROWS, reference
    # After every destruction the ledger, the state, the sidecar and the memory are exactly as before.
    for show in shows[1:6]:
        assert run.result_text(show) == reference, (reference, run.result_text(show), run.describe())
    # The destructions really ran inside the client (the guide let them through).
    assert "results.tsv.gz" in run.result_text(destroy["gzip"])
    # And the agent was told, each time, in one sentence with the allowed way.
    told = "\n".join(all_strings(body) for body in run.requests)
    for label in ("results.tsv", ".autoresearch/state.json", ".claude/context/memory/learnings.md"):
        assert f"autoresearch keeper: {label} was removed" in told, (label, told[-3000:])
    assert "append rows with `uv run scripts/experiment.py record ...`" in told
    # The background task's delete struck during `sleep 5` and was undone right after it.
    after_wait = next(body for body in run.requests if wait["id"] in json.dumps(body["messages"][-2:]))
    assert "autoresearch keeper: .claude/context/memory/learnings.md was removed" in all_strings(
        after_wait["messages"][-2:]
    ), all_strings(after_wait["messages"][-3:])[-2000:]

    # `record ...; rm results.tsv`: the row record wrote comes back (from the sidecar), after the others.
    after = run.result_text(shows[6]).split("---")[0].strip().splitlines()
    assert after[: len(rows)] == rows and len(after) == len(rows) + 1, after
    assert re.fullmatch(r"[0-9a-f]{7}\t\d\.\d{6}\t\d+\.\d\tdiscard\tbaseline under the e2e budget", after[-1])
    final = (repo / "results.tsv").read_text().splitlines()
    assert final == after
    st = json.loads((repo / ".autoresearch" / "state.json").read_text())
    assert st["tag"] == "e2e" and st["last_run"]["recorded"] is True
    assert title in (repo / ".claude" / "context" / "memory" / "learnings.md").read_text()

    # The vault: unwritable from inside, written by the hooks outside.
    # 2.1.332 refuses the call by the Edit rule's path in its text; 2.1.197 runs it, and the wall stops it
    named = run.result_text(vault_named)
    assert "has been denied" in named or "Read-only file system" in named, named
    probe = run.result_text(vault_probe)
    assert "Read-only file system" in probe, probe
    assert not (vault_base / "probe").exists() and not (vault_base / "probe2").exists()
    assert not (vault_base / "probe3").exists(), run.result_text(write_vault)
    (vault,) = vault_base.iterdir()
    journal = (vault / "night" / "results.tsv").read_text().splitlines()
    assert journal == final, "the journal holds every row, the recorded one included"
    print(f"[e2e] keeper session {run.seconds:.1f}s; Write probe: {run.result_text(write_vault)[:160]!r}")


def all_strings(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(all_strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(all_strings(v) for v in value)
    return ""
