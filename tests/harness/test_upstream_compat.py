"""A train.py in upstream's shape runs unchanged against this prepare.py (tests/harness/upstream_train.py).

It trains for a few seconds on the real prepared cache (on CUDA when one is visible, as upstream's would)
and prints upstream's summary block; tests/attest checks that the runner scores it too."""

from __future__ import annotations

from autoresearch.summary import parse_summary
from harness_helpers import REPO_ROOT, run_script

UPSTREAM_SHAPED = REPO_ROOT / "tests" / "harness" / "upstream_train.py"


def test_upstream_shaped_train_py_trains_and_is_scored(embedded_cache):
    proc = run_script(
        [UPSTREAM_SHAPED], embedded_cache, AUTORESEARCH_TIME_BUDGET=2, PYTHONPATH=REPO_ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "view size is not compatible" not in proc.stderr
    summary = parse_summary(proc.stdout)
    assert summary is not None, proc.stdout[-2000:]
    assert 1.0 < summary["val_bpb"] < 4.5 and summary["num_steps"] > 3
    # upstream reads TIME_BUDGET from prepare, which honours the test budget: seconds, not 300
    assert summary["training_seconds"] < 30
    assert "Time budget: 2s" in proc.stdout
