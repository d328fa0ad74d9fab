"""
Prepare-time benchmark: `prepare.py` on the embedded default into a fresh cache, timed whole and by phase.

    uv run bench/prepare_time.py                # reuses a verified sdist from ~/.cache/autoresearch/downloads
    uv run bench/prepare_time.py --cold         # also times the 5.4 MB download from the package index
    uv run bench/prepare_time.py --json

Target: at most 2 minutes on 2 cores. The wall time includes the Python and torch start-up of a real
`prepare.py` process; the phases come from the manifest prepare.py writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 120


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cold", action="store_true", help="use an empty HOME too, so the sdist is downloaded"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AUTORESEARCH_CACHE": os.path.join(tmp, "cache")}
        if args.cold:
            env["HOME"] = tmp  # no reusable ~/.cache/autoresearch/downloads
        t0 = time.time()
        proc = subprocess.run(
            [sys.executable, "prepare.py"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        wall = time.time() - t0
        if proc.returncode != 0:
            print(
                "prepare_time.py: prepare.py failed: " + proc.stderr.strip().splitlines()[-1], file=sys.stderr
            )
            return 1
        manifest = json.loads(Path(tmp, "cache", "manifest.json").read_text())
        t1 = time.time()
        check = subprocess.run(
            [sys.executable, "prepare.py", "--check"], cwd=ROOT, env=env, capture_output=True
        )
        check_wall = time.time() - t1
        assert check.returncode == 0

    phases = manifest["stats"]["seconds"]
    result = {
        "mode": "cold (download)" if args.cold else "warm (verified sdist reused)",
        "cores": os.cpu_count(),
        "wall_seconds": round(wall, 1),
        **{f"{k}_seconds": v for k, v in phases.items()},
        "check_seconds": round(check_wall, 1),
        "train_tokens": manifest["stats"]["train_tokens"],
        "val_tokens": manifest["stats"]["val_tokens"],
        "target_seconds": TARGET_SECONDS,
        "within_target": wall <= TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        "| mode | cores | wall (process) | fetch + read | tokenizer (rustbpe) | encode (tiktoken) | --check "
        "| tokens |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['mode']} | {result['cores']} | {result['wall_seconds']:.1f} s | "
        f"{phases['fetch_and_read']:.1f} s | "
        f"{phases['tokenizer']:.1f} s | {phases['encode']:.1f} s | {result['check_seconds']:.1f} s | "
        f"{result['train_tokens']:,} train / {result['val_tokens']:,} val |"
    )
    print(f"target <= {TARGET_SECONDS} s: {'met' if result['within_target'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
