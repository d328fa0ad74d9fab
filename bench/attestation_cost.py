"""What attestation adds to a run: the export in train.py's process plus the scorer process.

    uv run bench/attestation_cost.py                 # 3 interleaved pairs of real 20 s runs on CPU
    uv run bench/attestation_cost.py --pairs 5 --budget 30

Two throw-away projects with the real prepare.py and train.py, one with `attest = false`: their runs
alternate (attested, plain, attested, ...), so both see the same machine load. The cost of a pair is
the difference of the runner's wall times; the breakdown comes from the attested run's own record
(export seconds; the scorer's start-up, model load, evaluation and causality probe). The cost does not
depend on the training budget, so it is stated as a share of the real 300 s budget.
Target: <= 3% of 300 s on CPU. On a GPU machine the same command measures the CUDA path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from runner_overhead import _cli_run, _env, _repo, project_files

BUDGET = 300


def measure(pairs: int, budget: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        env = _env(AUTORESEARCH_CACHE=str(cache), AUTORESEARCH_TIME_BUDGET=str(int(budget)))
        roots = {}
        for attest in (True, False):
            folder = tmp / ("attested" if attest else "plain")
            folder.mkdir()
            roots[attest] = _repo(folder, project_files(attest))
        first = roots[True]
        subprocess.run([sys.executable, "prepare.py"], cwd=first, env=env, check=True, capture_output=True)
        walls = {True: [], False: []}
        breakdowns = []
        for i in range(pairs):
            for attest in (True, False):
                wall, verdict = _cli_run(roots[attest], env, setup=(i == 0))
                if verdict.get("outcome") != "ok":
                    raise SystemExit(f"a run ended {verdict.get('outcome')}: {verdict.get('reason')}")
                walls[attest].append(wall)
                if attest:
                    state = json.loads((roots[True] / ".autoresearch" / "state.json").read_text())
                    record = state["last_run"]["attestation"]
                    breakdowns.append({"export": record["export"]["export_seconds"], **record["seconds"]})
    costs = [a - b for a, b in zip(walls[True], walls[False], strict=True)]
    return {
        "pairs": pairs,
        "budget": budget,
        "wall_attested": walls[True],
        "wall_plain": walls[False],
        "costs": costs,
        "median_cost": statistics.median(costs),
        "share_of_300s": statistics.median(costs) / BUDGET,
        "breakdown_median": {k: statistics.median(b[k] for b in breakdowns) for k in breakdowns[0]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="training seconds per run (test budget)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    r = measure(max(1, args.pairs), args.budget)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{'pair':<6}{'attested wall s':>16}{'plain wall s':>14}{'cost s':>9}")
    for i, (a, b, c) in enumerate(zip(r["wall_attested"], r["wall_plain"], r["costs"], strict=True), 1):
        print(f"{i:<6}{a:>16.2f}{b:>14.2f}{c:>9.2f}")
    b = r["breakdown_median"]
    print(
        f"median cost {r['median_cost']:.2f} s = {100 * r['share_of_300s']:.2f}% of the {BUDGET} s budget"
        f" | export {b['export']:.2f} s in train.py's process; scorer {b['total']:.2f} s "
        f"(start-up {b['startup']:.2f}, load {b['load']:.2f}, eval + probe {b['eval']:.2f})"
    )
    print(f"target <= 3% of {BUDGET} s: {'met' if r['share_of_300s'] <= 0.03 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
