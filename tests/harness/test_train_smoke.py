"""train.py end to end on the prepared cache, with a test budget of a few seconds."""

from __future__ import annotations

import re

from autoresearch.summary import SUMMARY_FIELDS, parse_summary, step_loss
from harness_helpers import REPO_ROOT, run_script

TRAIN = REPO_ROOT / "train.py"


def test_smoke_run_prints_a_complete_summary(embedded_cache):
    proc = run_script([TRAIN], embedded_cache, AUTORESEARCH_TIME_BUDGET=3, AUTORESEARCH_DEVICE="cpu")
    out = proc.stdout
    assert proc.returncode == 0, out[-2000:] + proc.stderr[-2000:]
    assert "\r" not in out
    summary = parse_summary(out)
    assert summary is not None
    assert [f.name for f in SUMMARY_FIELDS if f.name not in summary] == []
    for f in SUMMARY_FIELDS:
        assert isinstance(summary[f.name], f.type), f.name
    assert summary["time_budget"] == 3 and summary["device"] == "cpu"
    assert 3.0 <= summary["training_seconds"] < 30 and summary["total_seconds"] >= summary["training_seconds"]
    assert (
        0 < summary["val_bpb"] < 4.0
    )  # log2(2048)/~3 bytes per token is ~3.7 for a model that learned nothing
    assert summary["num_steps"] >= 3 and summary["num_params_M"] > 0.1
    assert summary["peak_vram_mb"] == 0.0 and summary["mfu_percent"] == 0.0 and summary["peak_rss_mb"] > 50
    # the block is exactly upstream's layout: `---`, then the label padded to 18 characters
    block = out[out.rindex("\n---\n") + 5 :].splitlines()
    assert [line[:18].rstrip().rstrip(":") for line in block] == [f.name for f in SUMMARY_FIELDS]
    assert all(re.match(r"^[a-z_M]+:\s+\S", line) and line[18] != " " for line in block)
    progress = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(progress) >= 3 and all(step_loss(line) is not None for line in progress)
    assert "test override" in out  # a shortened budget says it is not comparable


def test_diverging_run_fails_fast(embedded_cache, tmp_path):
    """NaN/inf/huge loss: a `FAIL:` line and exit 1, long before the budget ends."""
    source = TRAIN.read_text()
    source, n = re.subn(r"^UNEMBEDDING_LR = .*$", "UNEMBEDDING_LR = 1e12", source, flags=re.M)
    assert n == 1
    assert re.search(r"^    LOGIT_SOFTCAP = 0\.0", source, re.M)  # the CPU profile has no cap to hold logits
    broken = tmp_path / "train.py"
    broken.write_text(source)
    proc = run_script(
        [broken], embedded_cache, AUTORESEARCH_TIME_BUDGET=60, AUTORESEARCH_DEVICE="cpu", PYTHONPATH=REPO_ROOT
    )
    assert proc.returncode == 1
    fails = [line for line in proc.stdout.splitlines() if line.startswith("FAIL:")]
    assert len(fails) == 1 and re.search(r"loss is (nan|inf|[0-9.e+]+) at step \d+", fails[0])
    assert parse_summary(proc.stdout) is None


def test_epoch_cap_ends_the_run_early_with_the_warm_down_done(embedded_cache, tmp_path):
    """A GPU passes the embedded corpus every second: MAX_EPOCHS stops training with budget left."""
    # 0.15 epochs of the embedded split is ~14 CPU steps of 2^14 tokens: enough for the warm-down to show
    source, n = re.subn(r"^MAX_EPOCHS = .*$", "MAX_EPOCHS = 0.15", TRAIN.read_text(), flags=re.M)
    assert n == 1
    capped = tmp_path / "train.py"
    capped.write_text(source)
    proc = run_script(
        [capped],
        embedded_cache,
        AUTORESEARCH_TIME_BUDGET=120,
        AUTORESEARCH_DEVICE="cpu",
        PYTHONPATH=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = parse_summary(proc.stdout)
    assert summary["training_seconds"] < 60  # stopped by the cap, not the 120 s budget
    assert 0.15 <= summary["epochs"] < 0.17  # one step past the cap at most
    last = [line for line in proc.stdout.splitlines() if line.startswith("step ")][-1]
    progress, lr = re.search(r"\(([\d.]+)%\) .*\| lr ([\d.]+) \|", last).groups()
    assert float(progress) > 90 and float(lr) < 0.25, last  # warmed down toward the cap, not the budget


def test_unknown_device_is_one_line(embedded_cache):
    proc = run_script([TRAIN], embedded_cache, AUTORESEARCH_DEVICE="tpu")
    assert proc.returncode == 1 and proc.stdout.strip().startswith("FAIL: AUTORESEARCH_DEVICE=tpu")
