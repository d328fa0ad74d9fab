"""summary, state, gitutil and noise: the contracts other engineers import."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from autoresearch import config, gitutil, noise, runner, state, summary

REPO = Path(__file__).resolve().parents[2]

FULL = dict(
    val_bpb=0.9979,
    training_seconds=300.1,
    total_seconds=325.9,
    peak_vram_mb=45060.2,
    peak_rss_mb=3000.0,
    mfu_percent=39.8,
    total_tokens_M=499.6,
    num_steps=953,
    epochs=0.08,
    num_params_M=50.3,
    depth=8,
    device="cuda",
    time_budget=300,
)


def test_summary_round_trip_and_layout():
    text = summary.format_summary(FULL)
    lines = text.splitlines()
    assert lines[0] == "---" and lines[1] == "val_bpb:          0.997900"
    assert [ln.split(":")[0] for ln in lines[1:]] == [f.name for f in summary.SUMMARY_FIELDS]
    assert all(ln[18] != " " for ln in lines[1:])  # value starts at column 19
    parsed = summary.parse_summary("startup\nstep 1 | loss 3.0\n" + text + "\n")
    assert parsed == {**FULL, "val_bpb": 0.9979}
    assert isinstance(parsed["num_steps"], int) and isinstance(parsed["device"], str)


def test_summary_tolerant_and_strict_where_it_matters():
    assert summary.parse_summary("no block here\n") is None
    assert summary.parse_summary("---\ntraining_seconds: 1.0\n") is None  # no val_bpb
    assert summary.parse_summary("---\nval_bpb: garbage\n") is None
    log = "step 1 | loss 2.0\r---\r\nval_bpb:          1.25\nnew_key:  x y\nnum_steps: 12.0\n"
    got = summary.parse_summary(log + "a stray warning line\n")
    assert got == {"val_bpb": 1.25, "new_key": "x y", "num_steps": 12}
    # the last complete block wins (a run that printed an earlier partial block)
    two = "---\nval_bpb: 2.0\n" + summary.format_summary({"val_bpb": 1.0})
    assert summary.parse_summary(two)["val_bpb"] == 1.0
    assert math.isnan(summary.parse_summary("---\nval_bpb: nan\n")["val_bpb"])


@pytest.mark.parametrize(
    "line,loss",
    [
        ("step 00120 (40.1%) | loss 3.456789 | lr 1.000 | dt 85ms | tok/s 12,345", 3.456789),
        ("step 5 | loss nan | lr 1", float("nan")),
        ("step 5 | loss inf", float("inf")),
        ("step 5 | loss 1e+03", 1000.0),
        ("val loss 3.0", None),
        ("step 5 | lr 1.0", None),
    ],
)
def test_step_loss(line, loss):
    got = summary.step_loss(line)
    if loss is None:
        assert got is None
    elif math.isnan(loss):
        assert math.isnan(got)
    else:
        assert got == loss


def test_state_load_never_raises_and_save_is_atomic(tmp_path):
    cfg = config.from_table(tmp_path, {})
    assert state.load(cfg) is None and state.error(cfg) is None
    cfg.state_path.mkdir()
    for bad in ("{oops", "[]", '{"version": 99}', ""):
        cfg.state_file.write_text(bad)
        assert state.load(cfg) is None
        assert "move it away and run setup again" in state.error(cfg)
    st = state.new_state("nov25", "autoresearch/nov25", "a" * 40, {"prepare.py": "b" * 64}, 2, 0.003)
    state.save(cfg, st)
    assert state.load(cfg) == st and state.error(cfg) is None
    assert [p.name for p in cfg.state_path.iterdir()] == ["state.json"]  # no temp file left
    assert json.loads(cfg.state_file.read_text())["noise"] == {"sigma": 0.003, "n": 0, "source": "fallback"}
    assert state.seconds_since(st["created_at"]) < 60


def _git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_current_branch_and_head_without_subprocess(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    _git(root, "init", "-q", "-b", "autoresearch/nov25")
    assert gitutil.current_branch(root) == "autoresearch/nov25" and gitutil.head_commit(root) is None
    (root / "a").write_text("1")
    _git(root, "add", "a")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    sha = _git(root, "rev-parse", "HEAD")
    assert gitutil.head_commit(root) == sha
    _git(root, "pack-refs", "--all")  # refs only in packed-refs now
    assert gitutil.head_commit(root) == sha
    _git(root, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    assert gitutil.current_branch(tmp_path / "wt") == "other" and gitutil.head_commit(tmp_path / "wt") == sha
    _git(root, "checkout", "-q", "--detach")
    assert gitutil.current_branch(root) is None and gitutil.head_commit(root) == sha
    assert gitutil.current_branch(tmp_path) is None  # not a repo


def test_git_errors_are_one_line(tmp_path):
    with pytest.raises(gitutil.GitError, match=r"^git rev-parse .* failed: ") as exc:
        gitutil.git(tmp_path, "rev-parse", "--verify", "nope")
    assert "\n" not in str(exc.value)


def test_noise_estimate_pools_replicates():
    assert noise.estimate({"a": [1.0]}, "a", 0.003) == {"sigma": 0.003, "n": 0, "source": "fallback"}
    est = noise.estimate({"a": [1.0, 1.004]}, "a", 0.003)
    assert est["source"] == "baseline" and est["n"] == 2 and abs(est["sigma"] - 0.004 / math.sqrt(2)) < 1e-12
    est = noise.estimate({"a": [1.0, 1.004], "b": [0.9, 0.902, 0.898]}, "a", 0.003)
    assert est["source"] == "pooled" and est["n"] == 5
    assert abs(est["sigma"] - math.sqrt((0.000008 + 0.000008) / 3)) < 1e-12


def test_decision_rule():
    cfg = config.from_table(config.Path("/tmp"), {"noise": {"min_delta": 0.001, "sigma_multiplier": 2.0}})
    sigma = 0.002  # single vs single: sigma_diff = 0.002828, threshold = 0.005657
    assert noise.decide(cfg, 0.990, 1, 1.0, 1, sigma)["suggestion"] == "keep"
    near = noise.decide(cfg, 0.996, 1, 1.0, 1, sigma)
    assert near["suggestion"] == "rerun" and abs(near["threshold"] - 0.0056569) < 1e-6
    assert (
        noise.decide(cfg, 0.996, 3, 1.0, 3, sigma)["suggestion"] == "keep"
    )  # averaged runs shrink sigma_diff
    assert noise.decide(cfg, 0.996, 3, 1.0, 1, sigma)["suggestion"] == "discard"  # 3 runs: no more reruns
    assert (
        noise.decide(cfg, 0.998, 1, 1.0, 1, sigma)["suggestion"] == "discard"
    )  # gain below half the threshold
    assert noise.decide(cfg, 1.010, 1, 1.0, 1, sigma)["suggestion"] == "discard"
    assert noise.decide(cfg, 0.900, 1, 1.0, 1, sigma, comparable=False)["suggestion"] == "discard"
    tiny = noise.decide(cfg, 0.9993, 1, 1.0, 1, 0.0)  # no measured noise: min_delta still applies
    assert tiny["threshold"] == 0.001 and tiny["suggestion"] == "rerun"
    high = config.from_table(config.Path("/tmp"), {"metric_direction": "higher"})
    assert noise.decide(high, 1.02, 1, 1.0, 1, sigma)["suggestion"] == "keep"
    assert noise.decide(cfg, 1.0, 1, None, 1, sigma)["suggestion"] == "keep"  # first run sets the bar


def test_log_watch_reads_carriage_returns_split_chunks_and_tracebacks():
    from autoresearch import runner

    watch = runner._LogWatch(tail_lines=3)
    watch.feed(b"step 1 | loss 3.0\rstep 2 | lo")  # upstream's \r progress, cut mid-line
    assert watch.last_loss == 3.0 and watch.diverged is None
    watch.feed(b"ss 2.5\rstep 3 | loss inf\r")
    assert watch.last_loss == float("inf") and "loss inf" in watch.diverged
    watch.feed(b"Traceback (most recent call last):\n  File 'x'\nKeyError: 'a'\n\nDuring handling...\n")
    watch.feed(
        b"Traceback (most recent call last):\n  File 'y'\ntorch.OutOfMemoryError: CUDA out of memory\n"
    )
    assert watch.exception == "torch.OutOfMemoryError: CUDA out of memory" and watch.oom_line
    assert len(watch.tail) == 3  # only a bounded tail is kept
    endless = runner._LogWatch(tail_lines=1)
    endless.feed(b"x" * (runner.MAX_PARTIAL_BYTES + 10))  # no newline ever: judged, not hoarded
    assert endless.partial == b"" and len(endless.tail) == 1


def test_sandbox_check_names_what_is_missing_and_what_remains():
    from autoresearch import runner

    present = {"bwrap": "/usr/bin/bwrap", "socat": "/usr/bin/socat"}
    assert runner.sandbox_check("linux", present.get).startswith("ready")
    line = runner.sandbox_check("linux", {"bwrap": "/usr/bin/bwrap"}.get)
    assert "MISSING socat" in line and "apt-get install -y bubblewrap socat" in line
    assert "only the hooks and the run-time hashes" in line
    assert "Seatbelt" in runner.sandbox_check("darwin", {}.get)


def test_a_remembered_descendant_whose_pid_was_reused_is_never_signalled():
    """In a sandbox's small pid namespace a dead descendant's pid can come back as another process (the
    runner's own scorer): only processes with the remembered start time are signalled, never a spared one."""
    import sys

    from autoresearch import runner

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        remembered = runner._descendants(os.getpid())
        assert {live.pid, done.pid} <= set(remembered)
        done.wait()
        assert runner._still_running(remembered, spare=set()) >= {live.pid}
        assert done.pid not in runner._still_running(remembered, spare=set())
        reused = {live.pid: remembered[live.pid] - 5.0}  # same pid, another start time: a different process
        assert runner._still_running(reused, spare=set()) == set()
        assert live.pid not in runner._still_running(remembered, spare={live.pid})
    finally:
        live.kill()
        live.wait()


def test_setup_checks_the_environment_against_uv_lock(tmp_path):
    import venv

    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    cfg = config.load(tmp_path)
    # the environment these tests run in was made by `uv sync --frozen`: it matches
    assert runner.environment_check(cfg, sys.executable).startswith("matches uv.lock")
    bare = tmp_path / "bare-venv"
    venv.create(bare, with_pip=False)
    with pytest.raises(runner.RunnerError) as err:
        runner.environment_check(cfg, str(bare / "bin" / "python"))
    message = str(err.value)
    assert "does not match uv.lock" in message and "uv sync --frozen" in message and "\n" not in message
    (tmp_path / "uv.lock").unlink()
    assert runner.environment_check(cfg, sys.executable).startswith("not checked")
