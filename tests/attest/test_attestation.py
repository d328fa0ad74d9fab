"""The runner scores every run itself: one test per row of the table in docs/attestation.md.

Each test commits a real train.py variant into a real copy of the pack, runs `experiment.py run --json`
(real subprocesses: train.py under the bootstrap, then the evaluator on the exported model with the pristine
harness) and checks the outcome class, the recorded val_bpb and that nothing unkeepable can be kept.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys

import pytest
from attest_helpers import REPO_ROOT
from autoresearch import attest, outcomes

pytestmark = pytest.mark.slow

SUMMARY_VAL = 'val_bpb": f"{val_bpb:.6f}",'
LOSS_RETURN = "return F.cross_entropy("
LOSS_KWARGS = "ignore_index=-1, reduction=reduction"


def run(project) -> dict:
    proc, verdict = project.json("run")
    assert set(verdict) >= {"outcome", "val_bpb", "reported_val_bpb", "attested"}, verdict
    return verdict


def keep_refused(project) -> None:
    proc = project.cli("record", "keep", "should never be kept")
    assert proc.returncode == 1 and "cannot keep" in proc.stderr, proc.stderr
    assert len((project.root / "results.tsv").read_text().splitlines()) == 1  # header only: no row


def test_honest_baseline_is_attested_and_agrees_with_the_printed_value(project):
    verdict = run(project)
    assert verdict["outcome"] == outcomes.OK, verdict["reason"]
    assert verdict["attested"] is True
    assert abs(verdict["val_bpb"] - verdict["reported_val_bpb"]) <= attest.MISMATCH_TOLERANCE
    last = project.state()["last_run"]
    assert last["attestation"]["probe"]["ok"] and last["attestation"]["probe"]["max_abs_delta"] == 0.0
    assert last["attestation"]["harness_sha256"] == project.state()["protected_hashes"]["prepare.py"]
    assert (project.root / ".autoresearch" / "artifacts" / f"{last['commit']}.pt2").is_file()
    proc = project.cli("record", "keep", "baseline")
    assert proc.returncode == 0, proc.stderr
    row = (project.root / "results.tsv").read_text().splitlines()[1].split("\t")
    assert float(row[1]) == pytest.approx(verdict["val_bpb"], abs=1e-6)
    assert project.sidecar()[-1]["attested"] is True


def test_a_printed_val_bpb_that_is_not_the_models_is_a_mismatch(project):
    project.train_variant("print 0.5", (SUMMARY_VAL, 'val_bpb": "0.500000",'))
    verdict = run(project)
    assert verdict["outcome"] == outcomes.MISMATCH, verdict["reason"]
    assert verdict["reported_val_bpb"] == 0.5
    assert verdict["val_bpb"] > 1.0  # the attested value, not the printed one
    assert "0.5" in verdict["reason"] and f"{verdict['val_bpb']:.6f}" in verdict["reason"]
    keep_refused(project)
    proc = project.cli("record", "discard", "printed a fake figure")
    assert proc.returncode == 0, proc.stderr
    row = (project.root / "results.tsv").read_text().splitlines()[1].split("\t")
    assert float(row[1]) == pytest.approx(verdict["val_bpb"], abs=1e-6) and row[3] == "discard"


@pytest.mark.parametrize(
    "edit",
    [
        (LOSS_RETURN, "return 0.5 * F.cross_entropy("),
        (LOSS_KWARGS, LOSS_KWARGS + ", label_smoothing=0.1"),
    ],
    ids=["half-loss", "label-smoothing"],
)
def test_a_loss_defined_by_the_model_does_not_change_the_metric(project, edit):
    """The metric asks the model for logits only, so training-loss tricks neither fake nor break it: `ok`."""
    project.train_variant("loss trick", edit)
    verdict = run(project)
    assert verdict["outcome"] == outcomes.OK, verdict["reason"]
    assert abs(verdict["val_bpb"] - verdict["reported_val_bpb"]) <= attest.MISMATCH_TOLERANCE
    assert 1.5 < verdict["val_bpb"] < 4.0  # a real cross-entropy, not half of one


@pytest.mark.parametrize(
    "edit",
    [
        ("is_causal=True", "is_causal=False"),
        ("x = x0 = rms_norm(self.wte(idx))", "x = x0 = rms_norm(self.wte(torch.roll(idx, -1, dims=1)))"),
    ],
    ids=["not-causal", "token-shift"],
)
def test_a_model_that_reads_the_future_is_a_leak(project, edit):
    project.train_variant("attention sees the future", edit)
    verdict = run(project)
    assert verdict["outcome"] == outcomes.LEAK, verdict["reason"]
    assert "positions" in verdict["reason"]
    probe = project.state()["last_run"]["attestation"]["probe"]
    assert probe["leaked_count"] > 0 and probe["max_abs_delta"] > 0.1
    keep_refused(project)


EDIT_AND_RESTORE_HARNESS = """
import atexit as _atexit
import signal as _signal
_harness = open("prepare.py", encoding="utf-8").read()
def _restore(*_):
    open("prepare.py", "w", encoding="utf-8").write(_harness)
    if _:
        os._exit(0)
_patched = _harness.replace("TIME_BUDGET_SECONDS = 2", "TIME_BUDGET_SECONDS = 9")
open("prepare.py", "w", encoding="utf-8").write(_patched)
_atexit.register(_restore)
_signal.signal(_signal.SIGTERM, _restore)
"""

TOUCH_GUARD = """
with open(".claude/lib/autoresearch/__init__.py", "a", encoding="utf-8") as _fh:
    _fh.write("# written during the run\\n")
"""


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_editing_the_harness_and_restoring_it_is_tampered(project):
    before = _sha(project.root / "prepare.py")
    project.train_variant("edit prepare.py, restore it at exit", prologue=EDIT_AND_RESTORE_HARNESS)
    verdict = run(project)
    assert verdict["outcome"] == outcomes.TAMPERED, verdict["reason"]
    assert "prepare.py" in verdict["reason"]
    assert _sha(project.root / "prepare.py") == before  # the bytes were put back: only the watch saw it
    keep_refused(project)


def test_editing_a_guard_file_during_the_run_is_tampered(project):
    project.train_variant("touch the guard library", prologue=TOUCH_GUARD)
    verdict = run(project)
    assert verdict["outcome"] == outcomes.TAMPERED, verdict["reason"]
    assert ".claude/lib/autoresearch/__init__.py" in verdict["reason"]
    keep_refused(project)


def test_an_upstream_shaped_train_py_is_attested_unchanged(project):
    text = (REPO_ROOT / "tests" / "harness" / "upstream_train.py").read_text()
    project.write_train(text, "upstream-shaped train.py")
    verdict = run(project)
    assert verdict["outcome"] == outcomes.OK, verdict["reason"]
    assert verdict["attested"] and abs(verdict["val_bpb"] - verdict["reported_val_bpb"]) <= 1e-3


def test_a_scorer_ended_by_a_signal_is_named_by_that_signal():
    """A bare `exit code -15` sent the last CI failure hunting; the verdict names the signal instead."""
    scorer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    scorer.send_signal(signal.SIGTERM)
    scorer.wait()
    with pytest.raises(attest.AttestError, match="the scorer failed: killed by SIGTERM"):
        attest._parse_result("", "", scorer.returncode)
