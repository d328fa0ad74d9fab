"""Start-up latency of the Stop, SessionStart and PreCompact hooks, as a ratio to `python3 -I -S -c pass`.

Each call is one real process spawn with the JSON payload on stdin, exactly as Claude Code runs the hooks,
in a tmp git repo holding a night in progress (state, results.tsv rows, sidecar, memory entries). The
baseline and the hooks are interleaved so machine noise hits them alike.

    uv run bench/loop_hooks.py                 # 30 rounds, 200 ledger rows
    uv run bench/loop_hooks.py --runs 60 --rows 5000 --python /usr/bin/python3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / ".claude" / "lib"))

from autoresearch import config, gitutil, ledger, state  # noqa: E402

BRANCH = "autoresearch/bench"


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=b@example.com", "-c", "user.name=b", *args], cwd=root, check=True
    )


def make_night(root: Path, rows: int, memories: int) -> None:
    git(root, "init", "-q", "-b", "master")
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sub in ("hooks", "lib"):
        shutil.copytree(REPO_ROOT / ".claude" / sub, root / ".claude" / sub, ignore=ignore)
    (root / "train.py").write_text("print('train')\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "baseline")
    git(root, "checkout", "-qb", BRANCH)
    cfg = config.load(root)
    head = gitutil.head_commit(root)
    state.save(cfg, state.new_state("bench", BRANCH, head, {}, 2, cfg.noise.fallback_sigma))
    ledger.create(cfg.results_path)
    lines = [f"{head[:7]}\t1.000000\t12.5\tkeep\tbaseline"]
    lines += [f"{i:07x}\t{1 - i * 1e-6:.6f}\t12.5\tdiscard\tidea number {i}" for i in range(1, rows)]
    with cfg.results_path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    for _ in range(2):
        ledger.append_record(
            cfg.sidecar_path, {"commit": head, "outcome": "ok", "comparable": True, "replicates": [1.0]}
        )
    try:
        from memory import store
    except ImportError:
        return
    for i in range(memories):
        store.add(
            cfg.memory_path, "learning", f"finding {i} on warmup {i * 3}", text=f"detail {i}", force=True
        )


def timed(cmd: list[str], payload: bytes, env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=payload, capture_output=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or b"Traceback" in proc.stderr:
        raise SystemExit(f"{cmd[-1]} failed: {proc.stderr.decode()[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="rounds (each round calls every case once)")
    parser.add_argument("--rows", type=int, default=200, help="results.tsv rows in the fake night")
    parser.add_argument("--memories", type=int, default=30, help="memory entries")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "night"
        root.mkdir()
        make_night(root, args.rows, args.memories)
        other = Path(tmp) / "plain"  # a repo without a loop: the no-op path
        other.mkdir()
        git(other, "init", "-q")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        hooks = root / ".claude" / "hooks"
        common = {"session_id": "s", "transcript_path": "/tmp/t.jsonl", "cwd": str(root)}
        cases = {
            "python3 -I -S -c pass": ([args.python, "-I", "-S", "-c", "pass"], {}, root),
            "stop (active: block)": (
                [args.python, "-I", "-S", str(hooks / "stop.py")],
                {
                    **common,
                    "hook_event_name": "Stop",
                    "stop_hook_active": False,
                    "last_assistant_message": "x",
                },
                root,
            ),
            "stop (no loop: no-op)": (
                [args.python, "-I", "-S", str(hooks / "stop.py")],
                {**common, "cwd": str(other), "hook_event_name": "Stop", "stop_hook_active": False},
                other,
            ),
            "session_start (compact)": (
                [args.python, "-I", "-S", str(hooks / "session_start.py")],
                {**common, "hook_event_name": "SessionStart", "source": "compact"},
                root,
            ),
            "pre_compact (snapshot)": (
                [args.python, "-I", "-S", str(hooks / "pre_compact.py")],
                {**common, "hook_event_name": "PreCompact", "trigger": "auto", "custom_instructions": ""},
                root,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for cmd, payload, cwd in cases.values():  # warm-up: write .pyc files
            case_env = {**env, "CLAUDE_PROJECT_DIR": str(cwd)}
            timed(cmd, json.dumps(payload).encode(), case_env, cwd)
        for _ in range(args.runs):
            for name, (cmd, payload, cwd) in cases.items():
                case_env = {**env, "CLAUDE_PROJECT_DIR": str(cwd)}
                times[name].append(timed(cmd, json.dumps(payload).encode(), case_env, cwd))

    base = statistics.median(times["python3 -I -S -c pass"])
    print(f"interpreter {args.python}, {args.runs} rounds, {args.rows} ledger rows, {args.memories} memories")
    print(f"{'case':<26}{'median ms':>10}{'p90 ms':>9}{'x bare':>8}")
    for name, values in times.items():
        values.sort()
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        med = statistics.median(values)
        print(f"{name:<26}{med * 1000:>10.1f}{p90 * 1000:>9.1f}{med / base:>8.2f}")


if __name__ == "__main__":
    main()
