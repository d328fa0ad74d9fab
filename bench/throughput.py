"""
Throughput benchmark: training tokens/s (and MFU where the accelerator's peak FLOPS are known) of the train.py
baseline on the prepared profile, read from train.py's own summary block.

    uv run bench/throughput.py                  # 30 s of clocked training on the default device
    uv run bench/throughput.py --seconds 60 --device cpu
    uv run bench/throughput.py --json

It runs the real train.py with the test-only budget override, so the figures are for the exact baseline the
agent starts from (warm-up steps excluded, as in the budget). MFU prints 0.00 on CPU and MPS (peak unknown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".claude" / "lib")]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=30, help="clocked training seconds per run")
    parser.add_argument("--device", choices=["cpu", "cuda", "mps"], default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from autoresearch.summary import parse_summary

    env = {**os.environ, "AUTORESEARCH_TIME_BUDGET": str(args.seconds)}
    if args.device:
        env["AUTORESEARCH_DEVICE"] = args.device
    proc = subprocess.run([sys.executable, "train.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = parse_summary(proc.stdout)
    if proc.returncode != 0 or summary is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print("throughput.py: train.py failed: " + " | ".join(tail), file=sys.stderr)
        return 1
    # clocked tokens/s: tokens of the clocked steps over the clocked time (the first 11 steps are not clocked)
    batch = summary["total_tokens_M"] * 1e6 / summary["num_steps"]
    clocked_steps = summary["num_steps"] - 11
    tokens_per_s = clocked_steps * batch / summary["training_seconds"]
    import prepare

    result = {
        "device": summary["device"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores"
        if summary["device"] == "cpu"
        else summary["device"],
        "profile": prepare.PROFILE,
        "vocab": prepare.VOCAB_SIZE,
        "seq": prepare.MAX_SEQ_LEN,
        "params_M": summary["num_params_M"],
        "depth": summary["depth"],
        "tokens_per_s": round(tokens_per_s),
        "mfu_percent": summary["mfu_percent"],
        "steps": summary["num_steps"],
        "seconds": summary["training_seconds"],
        "peak_rss_mb": summary["peak_rss_mb"],
        "peak_vram_mb": summary["peak_vram_mb"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("| device | profile (V, seq) | params | depth | tokens/s | MFU | peak RSS | peak VRAM |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['machine']} | {result['profile']} ({result['vocab']}, {result['seq']}) | "
        f"{result['params_M']:.1f}M | {result['depth']} | {result['tokens_per_s']:,} | "
        f"{result['mfu_percent']:.2f}% | {result['peak_rss_mb']:.0f} MB | "
        f"{result['peak_vram_mb']:.0f} MB |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
