"""The wave keep rule docs/waves.md chose still wins its own simulation (bench/wave_selection.py)."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "wave_selection.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("wave_selection", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_confirm_and_control_beats_judging_the_winner_alone_at_k4():
    bench = load_bench()
    sigma = 0.006
    alone = bench.simulate("alone", 4, nights=60, seed=7, sigma=sigma, baseline_runs=2)
    chosen = bench.simulate("confirm+control", 4, nights=60, seed=7, sigma=sigma, baseline_runs=2)
    assert chosen["true_gain_per_night_sigma"] > 2 * alone["true_gain_per_night_sigma"]
    assert chosen["best_optimism_sigma"] < alone["best_optimism_sigma"] / 2
    assert chosen["false_keep_share"] < 0.05


def test_confirmation_cuts_false_keeps_once_the_bar_is_honest():
    bench = load_bench()
    control = bench.simulate("control", 4, nights=60, seed=7, sigma=0.006, baseline_runs=2)
    chosen = bench.simulate("confirm+control", 4, nights=60, seed=7, sigma=0.006, baseline_runs=2)
    assert chosen["false_keeps_per_night"] < control["false_keeps_per_night"] / 2


def test_the_k_aware_multiplier_keeps_the_family_tail():
    bench = load_bench()
    normal = statistics.NormalDist()
    z4 = bench.k_aware_multiplier(2.0, 4)
    assert 4 * (1 - normal.cdf(z4)) == pytest.approx(1 - normal.cdf(2.0), rel=1e-9)
    assert bench.k_aware_multiplier(2.0, 1) == pytest.approx(2.0)
