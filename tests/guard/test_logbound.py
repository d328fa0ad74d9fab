"""A long run.log is bounded before any tool call can read it, whoever wrote it; a live one is left alone.

Judged by effect: the bytes of run.log after the hook ran, the full text kept aside, and the PreToolUse
hook's own process run on a real payload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from autoresearch import config, logbound, summary
from guard_helpers import install_guard, make_project

SUMMARY = summary.format_summary(
    dict(val_bpb=1.0123, training_seconds=300.0, num_steps=2000, time_budget=300)
)


def _project(tmp_path: Path) -> config.Config:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    return config.load(tmp_path)


def _long_log(cfg, lines=2000, age=10.0):
    text = "".join(f"step {i:05d} | loss 3.0 | MARK-{i:04d}\n" for i in range(lines)) + SUMMARY + "\n"
    cfg.log_path.write_text(text)
    old = time.time() - age
    os.utime(cfg.log_path, (old, old))
    return text


def test_a_long_hand_written_log_is_cut_to_its_tail_and_summary(tmp_path):
    cfg = _project(tmp_path)
    full = _long_log(cfg)
    note = logbound.bound_run_log(cfg)
    assert note and "the full text: .autoresearch/logs/run-log-" in note
    short = cfg.log_path.read_text()
    lines = short.splitlines()
    assert len([ln for ln in lines if "MARK-" in ln]) == cfg.tail_lines
    assert "MARK-1999" in short and "MARK-1949" not in short
    assert summary.parse_summary(short)["val_bpb"] == 1.0123  # the seed's grep still reads the metric
    (kept,) = cfg.full_log_dir.glob("run-log-*.log")
    assert kept.read_text() == full and lines[0].endswith(str(kept.relative_to(tmp_path)))
    assert logbound.bound_run_log(cfg) is None  # bounded once: a second call leaves it as it is


def test_many_short_lines_or_one_huge_line_are_long_too(tmp_path):
    cfg = _project(tmp_path)
    for text in ("x\n" * 500, "y" * 200_000 + "\n"):
        cfg.log_path.write_text(text)
        os.utime(cfg.log_path, (time.time() - 10, time.time() - 10))
        assert logbound.bound_run_log(cfg)
        assert len(cfg.log_path.read_bytes()) < 16_000


def test_the_runners_own_bounded_log_and_a_short_log_are_untouched(tmp_path):
    cfg = _project(tmp_path)
    text = logbound.bounded_text("".join(f"line {i}\n" for i in range(500)) + SUMMARY, "# header", 50)
    cfg.log_path.write_text(text)
    os.utime(cfg.log_path, (time.time() - 10, time.time() - 10))
    assert logbound.bound_run_log(cfg) is None and cfg.log_path.read_text() == text
    assert not cfg.full_log_dir.exists()


def test_a_log_still_being_written_is_left_alone(tmp_path):
    cfg = _project(tmp_path)
    _long_log(cfg)
    writer = subprocess.Popen(  # `uv run train.py > run.log 2>&1` in the background: it holds the file
        [sys.executable, "-c", "import sys, time; time.sleep(30)"], stdout=open(cfg.log_path, "a")
    )
    try:
        time.sleep(0.2)
        assert logbound.bound_run_log(cfg) is None
        assert cfg.log_path.read_text().count("MARK-") == 2000
    finally:
        writer.kill()
        writer.wait()
    assert logbound.bound_run_log(cfg)  # its writer is done: the next call bounds it, however fresh


def test_the_pretooluse_hook_bounds_it_before_a_read_it_allows(tmp_path):
    root = make_project(tmp_path / "proj", ignore_data=True)
    install_guard(root)
    cfg = config.load(root)
    _long_log(cfg)
    payload = {"hook_event_name": "PreToolUse", "cwd": str(root), "tool_name": "Bash",
               "tool_input": {"command": "wc -l run.log"}}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(root / ".claude" / "hooks" / "pre_tool_use.py")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(root)},
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr  # allowed, silently
    assert cfg.log_path.read_text().count("MARK-") == cfg.tail_lines


def test_hooks_of_parallel_tool_calls_cut_it_once_and_keep_the_full_text(tmp_path):
    """The client runs the hooks of parallel tool calls at once: one cuts, the rest find it done."""
    cfg = _project(tmp_path)
    full = _long_log(cfg)
    lib = Path(logbound.__file__).resolve().parents[1]
    code = (
        f"import sys, time; sys.path.insert(0, {str(lib)!r}); from autoresearch import config, logbound; "
        f"cfg = config.load({str(tmp_path)!r}); time.sleep(max(0, {time.time() + 1.0!r} - time.time())); "
        "print(bool(logbound.bound_run_log(cfg)))"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(6)
    ]
    cut = [p.communicate(timeout=60)[0].strip() for p in racers]
    assert cut.count("True") == 1, cut
    (kept,) = cfg.full_log_dir.glob("run-log-*.log")
    assert kept.read_text() == full
    assert cfg.log_path.read_text().count("MARK-") == cfg.tail_lines
