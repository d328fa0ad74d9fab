"""The held-out test split: scored for the human by `report`, and never printed anywhere the agent reads."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from attest_helpers import make_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night(tmp_path_factory, embedded_cache):
    """A night with an attested baseline keep, one kept experiment and one discard (built once)."""
    proj = make_project(tmp_path_factory.mktemp("report"), embedded_cache)
    assert proj.cli("setup", "--tag", "report", "--baseline-repeats", "1").returncode == 0
    for description, edit, word in (
        ("baseline", None, "keep"),
        ("matrix lr 0.05", ("MATRIX_LR = 0.04", "MATRIX_LR = 0.05"), "keep"),
        ("scalar lr 0.03", ("SCALAR_LR = 0.02", "SCALAR_LR = 0.03"), "discard"),
    ):
        if edit:
            proj.train_variant(description, edit)
        proc, verdict = proj.json("run")
        assert verdict["outcome"] == "ok", verdict["reason"]
        assert proj.cli("record", word, description).returncode == 0
    return proj


def _figures(value: float) -> list[str]:
    """How a test figure could show up in text: the usual roundings."""
    return [f"{value:.{d}f}" for d in (6, 5)]


def test_report_scores_baseline_and_keeps_on_the_held_out_split(night):
    proc, rep = night.json("report")
    assert proc.returncode == 0, proc.stderr
    kept = rep["kept"]
    assert [e["description"] for e in kept] == ["baseline", "matrix lr 0.05"]
    assert kept[0]["baseline"] and all(e["attested"] for e in kept)
    for e in kept:
        assert 1.0 < e["val_bpb"] < 4.0 and 1.0 < e["test_bpb"] < 4.0
        assert e["test_bpb"] != e["val_bpb"]  # another split, another number
    head = rep["headline"]
    assert head["val_gain"] == pytest.approx(kept[1]["val_bpb"] - kept[0]["val_bpb"])
    assert head["test_gain"] == pytest.approx(kept[1]["test_bpb"] - kept[0]["test_bpb"])
    # only the baseline and the keeps keep their saved model
    models = sorted(p.name for p in (night.root / ".autoresearch" / "artifacts").glob("*.pt2"))
    assert len(models) == 2 and rep["artifact_bytes"] > 0
    text = night.cli("report").stdout
    assert "headline:" in text and _figures(kept[1]["test_bpb"])[0] in text
    page = (night.root / "report.html").read_text()  # the page, for the human: the same test figures
    assert all(_figures(e["test_bpb"])[0] in page for e in kept)


def test_no_agent_facing_output_holds_a_test_figure(night):
    human = night.json("report")[1]
    figures = [f for e in human["kept"] for f in _figures(e["test_bpb"])]
    figures += _figures(human["headline"]["test_gain"])
    agent_env = {**night.env, "CLAUDECODE": "1"}
    human_page = (night.root / "report.html").read_bytes()
    outputs = {}
    for args in (("status",), ("status", "--json"), ("report",), ("report", "--json")):
        proc = subprocess.run(
            [sys.executable, "scripts/experiment.py", *args],
            cwd=night.root,
            env=agent_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outputs[" ".join(args)] = proc.stdout + proc.stderr
    events = {
        "session_start": {"hook_event_name": "SessionStart", "source": "compact", "session_id": "s"},
        "stop": {"hook_event_name": "Stop", "session_id": "s"},
    }
    for hook, event in events.items():
        proc = subprocess.run(
            [sys.executable, f".claude/hooks/{hook}.py"],
            cwd=night.root,
            env=agent_env,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=60,
        )
        outputs[hook] = proc.stdout + proc.stderr
    for path in ("results.tsv", ".autoresearch/state.json", ".autoresearch/runs.jsonl", "run.log"):
        outputs[path] = (night.root / path).read_text()
    # The page is the human's and holds the figures: the agent's `report` leaves it alone, and the sandbox
    # (denyRead) and a Read rule keep the agent from reading it (tests/guard/test_guard_settings.py).
    assert (night.root / "report.html").read_bytes() == human_page
    withheld = json.loads(outputs["report --json"])
    assert withheld["test_withheld"] and all(e["test_bpb"] is None for e in withheld["kept"])
    assert "withheld" in outputs["report"]
    for name, text in outputs.items():
        leaked = [f for f in figures if re.search(rf"(?<![0-9]){re.escape(f)}", text)]
        assert not leaked, f"{name} shows a test figure: {leaked}"
        assert 'test_bpb": 1' not in text and 'test_bpb": 2' not in text, name
