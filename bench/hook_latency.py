"""Hook latency per tool call, interpreter start included, as a ratio to a bare `python3 -c pass`.

    uv run bench/hook_latency.py                 # 40 rounds, the interpreter running this script
    uv run bench/hook_latency.py --rounds 100 --python /usr/bin/python3 --json

Each round runs every case once, interleaved, so machine noise hits all cases alike. The hook is
started exactly as settings.json starts it (`python3 -I -S .claude/hooks/pre_tool_use.py`) with a
real PreToolUse payload on stdin. Target: median hook time <= 1.5x the bare interpreter's median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / ".claude" / "hooks" / "pre_tool_use.py"
TARGET_RATIO = 1.5


def payload(tool, tool_input):
    return json.dumps(
        {
            "session_id": "bench",
            "cwd": str(ROOT),
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_bench",
        }
    ).encode()


TRAIN_HUNK = "".join((ROOT / "train.py").read_text(encoding="utf-8").splitlines(keepends=True)[:60])
CASES = {
    "bash allow (tail -n 50 run.log)": payload("Bash", {"command": "tail -n 50 run.log"}),
    "bash deny (cat run.log)": payload("Bash", {"command": "cat run.log"}),
    "bash training (updatedInput)": payload("Bash", {"command": "uv run train.py > run.log 2>&1"}),
    "bash compound (git add && commit)": payload(
        "Bash",
        {"command": "git add train.py && git commit -m 'try: depth 10, see run.log' && git log --oneline -1"},
    ),
    "bash grep metrics": payload("Bash", {"command": 'grep "^val_bpb:\\|^peak_vram_mb:" run.log'}),
    "read train.py": payload("Read", {"file_path": str(ROOT / "train.py")}),
    "edit train.py (a 60-line hunk)": payload(
        "Edit", {"file_path": str(ROOT / "train.py"), "old_string": TRAIN_HUNK, "new_string": TRAIN_HUNK}
    ),
}


def timed(argv, stdin=b""):
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[:200]}")
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=40, help="runs of each case (default 40)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to time (default: this one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    py = args.python
    runs = {
        "bare `python3 -c pass`": ([py, "-c", "pass"], b""),
        "bare `python3 -I -S -c pass`": ([py, "-I", "-S", "-c", "pass"], b""),
    }
    for name, stdin in CASES.items():
        runs[f"hook: {name}"] = ([py, "-I", "-S", str(HOOK)], stdin)
    times = {name: [] for name in runs}
    for argv, stdin in runs.values():  # warm the page cache
        timed(argv, stdin)
    for _ in range(args.rounds):
        for name, (argv, stdin) in runs.items():
            times[name].append(timed(argv, stdin))
    base = statistics.median(times["bare `python3 -c pass`"])
    rows = []
    for name, values in times.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        rows.append({"case": name, "median_ms": median * 1000, "p90_ms": p90 * 1000, "ratio": median / base})
    hook_medians = [r["ratio"] for r in rows if r["case"].startswith("hook:")]
    overall = statistics.median(hook_medians)
    if args.json:
        print(
            json.dumps(
                {
                    "python": py,
                    "rounds": args.rounds,
                    "rows": rows,
                    "hook_median_ratio": overall,
                    "target_ratio": TARGET_RATIO,
                    "met": overall <= TARGET_RATIO,
                },
                indent=2,
            )
        )
        return 0
    print(f"python: {py}   rounds: {args.rounds}")
    print(f"{'case':44} {'median ms':>10} {'p90 ms':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['case']:44} {r['median_ms']:10.1f} {r['p90_ms']:8.1f} {r['ratio']:6.2f}")
    verdict = "met" if overall <= TARGET_RATIO else "NOT met"
    print(
        f"hook median ratio {overall:.2f}x vs bare `python3 -c pass` (target <= {TARGET_RATIO}x): {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
