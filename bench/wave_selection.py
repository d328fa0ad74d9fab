"""The winner's curse in a wave of K experiments: which keep rule buys the most true gain per night.

    uv run bench/wave_selection.py                  # K = 1, 4, 8; 400 simulated nights per row (~10 s)
    uv run bench/wave_selection.py --nights 1000 --seed 2 --json

A wave proposes K one-idea commits off the current best, runs each once, and then must decide which (if
any) becomes the new best. The best of K noisy runs is biased low (better than its true value): picking the
winner and then applying the one-candidate threshold keeps more duds as K grows. This simulation draws
candidates with known true effects plus Gaussian run noise (sigma = the measured baseline noise, see
noise.py) and scores three rules, all built on `noise.decide` (the real keep rule, with its reruns):

  alone      the wave's best run is judged as if it were the only candidate (what K = 1 does today)
  k-aware    the same, with the threshold raised so the chance that any of K duds clears it stays as
             for one candidate (sigma_multiplier z -> z_K, with 1 - Phi(z_K) = (1 - Phi(z)) / K)
  confirm    the wave's best run, if the rule would keep it or rerun it, is run again; only the fresh
             runs decide (the selection run is dropped, so its luck cannot count)
  control    as alone, but one of the K slots re-measures the current best every wave: those runs are
             never selected, so the bar the next candidates must beat drifts back to the truth
  confirm+control   both

Each row is a simulated night of RUNS_PER_WORKER runs per worker (K workers). Reported: the true gain of
the night's best over the baseline, keeps, false keeps (kept with a true effect <= 0) and their share,
missed wins (waves that held a real win of at least 1 sigma and kept nothing), and the best's optimism:
how much better the ledger believes the best is than it truly is, at the end of the night. All in sigma.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".claude" / "lib"))

from autoresearch import config, noise  # noqa: E402

RULES = ("alone", "k-aware", "confirm", "control", "confirm+control")
WAVE_SIZES = (1, 4, 8)
RUNS_PER_WORKER = 96  # one night: 8 h at 12 runs an hour, per worker; a wave of K uses K workers
# True effects of proposed ideas, in sigma (positive = better), read off upstream's ledgers: about 1 in 6
# experiments is kept, most ideas change little, some hurt.
WIN_SHARE, WIN_EFFECT = 0.15, (0.5, 3.0)  # real gains, uniform
NEUTRAL_SHARE, NEUTRAL_SD = 0.45, 0.1  # "does nothing": within a tenth of sigma of zero
HARM_MEAN, HARM_SD = 1.0, 1.0  # the rest hurt: loss ~ |normal(mean, sd)|
MEANINGFUL = 1.0  # a wave that holds a win of at least this many sigma should keep something


def true_effect(rng: random.Random) -> float:
    """A proposed idea's true improvement over the current best, in sigma."""
    u = rng.random()
    if u < WIN_SHARE:
        return rng.uniform(*WIN_EFFECT)
    if u < WIN_SHARE + NEUTRAL_SHARE:
        return rng.gauss(0.0, NEUTRAL_SD)
    return -abs(rng.gauss(HARM_MEAN, HARM_SD))


def k_aware_multiplier(z: float, k: int) -> float:
    """The z whose one-sided normal tail is (tail of z) / k."""
    tail = 0.5 * math.erfc(z / math.sqrt(2)) / k
    return statistics.NormalDist().inv_cdf(1 - tail)


class Night:
    """The true level of the best commit and what the ledger believes it is (lower val_bpb is better)."""

    def __init__(self, rng, sigma, baseline_runs):
        self.rng, self.sigma = rng, sigma
        self.true_best = 1.0
        self.runs = 0
        self.best_values = [self.measure(0.0) for _ in range(baseline_runs)]

    def measure(self, effect):
        self.runs += 1
        return self.true_best - effect + self.rng.gauss(0, self.sigma)

    @property
    def recorded_best(self):
        return sum(self.best_values) / len(self.best_values)


def judge(cfg, night, effect, values):
    """noise.decide as the runner applies it: keep measuring while it says rerun. Returns the verdict."""
    while True:
        mean = sum(values) / len(values)
        verdict = noise.decide(
            cfg, mean, len(values), night.recorded_best, len(night.best_values), night.sigma
        )
        if verdict["suggestion"] != "rerun":
            return verdict["suggestion"]
        values.append(night.measure(effect))


def wave(rule, cfg, night, effects):
    """Run one wave; returns the kept candidate's true effect, or None. A keep moves the night's best."""
    if rule.endswith("control") and len(effects) > 1:
        effects = effects[1:]  # one slot re-measures the best: unselected runs pull its bar back to the truth
        night.best_values.append(night.measure(0.0))
    first = [night.measure(e) for e in effects]
    winner = min(range(len(first)), key=first.__getitem__)
    values = [first[winner]]
    if rule.startswith("confirm"):
        gate = noise.decide(cfg, first[winner], 1, night.recorded_best, len(night.best_values), night.sigma)
        if gate["suggestion"] == "discard":
            return None
        values = [night.measure(effects[winner])]  # the selection run is dropped: its luck cannot count
    if judge(cfg, night, effects[winner], values) != "keep":
        return None
    night.true_best -= effects[winner]
    night.best_values = values  # what the ledger now compares against
    return effects[winner]


def simulate(rule, k, nights, seed, sigma, baseline_runs):
    table = {}
    if rule == "k-aware":
        table = {"noise": {"sigma_multiplier": k_aware_multiplier(config.NoiseConfig().sigma_multiplier, k)}}
    cfg = config.from_table(Path("."), table)
    rng = random.Random(f"{seed}-{rule}-{k}")
    budget = RUNS_PER_WORKER * k
    totals = {"gain": 0.0, "keeps": 0, "false_keeps": 0, "missed": 0, "optimism": 0.0}
    for _ in range(nights):
        night = Night(rng, sigma, baseline_runs)
        while night.runs + k <= budget:
            effects = [true_effect(rng) * sigma for _ in range(k)]
            kept = wave(rule, cfg, night, effects)
            if kept is None:
                totals["missed"] += max(effects) >= MEANINGFUL * sigma
                continue
            totals["keeps"] += 1
            totals["false_keeps"] += kept <= 0
        totals["gain"] += (1.0 - night.true_best) / sigma
        totals["optimism"] += (night.true_best - night.recorded_best) / sigma
    return {
        "rule": rule,
        "k": k,
        "runs_per_night": budget,
        "true_gain_per_night_sigma": totals["gain"] / nights,
        "keeps_per_night": totals["keeps"] / nights,
        "false_keeps_per_night": totals["false_keeps"] / nights,
        "false_keep_share": totals["false_keeps"] / max(1, totals["keeps"]),
        "missed_wins_per_night": totals["missed"] / nights,
        "best_optimism_sigma": totals["optimism"] / nights,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nights", type=int, default=400, help="simulated nights per rule and K (default 400)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sigma", type=float, default=config.NoiseConfig().fallback_sigma)
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=config.NoiseConfig().baseline_repeats,
        help="runs of the baseline",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = [
        simulate(r, k, args.nights, args.seed, args.sigma, args.baseline_runs)
        for k in WAVE_SIZES
        for r in RULES
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{args.nights} nights per row, {RUNS_PER_WORKER} runs per worker and night, sigma {args.sigma}; "
        f"ideas: {WIN_SHARE:.0%} win {WIN_EFFECT[0]}-{WIN_EFFECT[1]} sigma, {NEUTRAL_SHARE:.0%} neutral, "
        f"the rest hurt"
    )
    head = (
        "K",
        "rule",
        "runs",
        "true gain",
        "keeps",
        "false keeps",
        "share false",
        "missed wins",
        "optimism",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            f"| {r['k']} | {r['rule']} | {r['runs_per_night']} | {r['true_gain_per_night_sigma']:.2f} | "
            f"{r['keeps_per_night']:.2f} | {r['false_keeps_per_night']:.2f} | {r['false_keep_share']:.1%} | "
            f"{r['missed_wins_per_night']:.2f} | {r['best_optimism_sigma']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
