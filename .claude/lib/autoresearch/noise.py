"""Noise-aware keep/discard: estimate run-to-run sigma of the metric and turn a delta into a suggestion.

Stdlib only. The rule (documented in docs/runner.md and the skill):

    sigma       pooled standard deviation of repeated runs of the same commit (the baseline repeats first,
                then any reruns), fallback_sigma until two runs of one commit exist
    sigma_diff  sigma * sqrt(1/n_candidate + 1/n_best)      (= sqrt(2) * sigma for two single runs)
    threshold   max(min_delta, sigma_multiplier * sigma_diff)
    keep        improvement > threshold
    rerun       threshold/2 < improvement <= threshold, while the candidate has fewer than MAX_REPLICATES runs
    discard     otherwise; and always when the run is not comparable (time-budget override)
"""

from __future__ import annotations

import math
from collections import defaultdict

MAX_REPLICATES = 3  # a near-tie is re-run at most until the candidate has this many runs
RERUN_FRACTION = 0.5  # improvements above this fraction of the threshold are near-ties worth a rerun


def run_values(records: list[dict]) -> dict[str, list[float]]:
    """commit -> every comparable, successful val_bpb measured for it (sidecar `replicates`)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        if rec.get("outcome") != "ok" or not rec.get("comparable", False) or rec.get("pending_job"):
            continue  # a job's pending copy: its values count once, when `record` writes the run
        commit = rec.get("commit")
        for value in rec.get("replicates") or []:
            if isinstance(value, (int, float)) and math.isfinite(value) and commit:
                groups[commit].append(float(value))
    return dict(groups)


def estimate(groups: dict[str, list[float]], baseline_commit: str | None, fallback_sigma: float) -> dict:
    """Pooled sigma over every commit measured at least twice: {"sigma", "n", "source"}."""
    sum_sq, dof, n, used = 0.0, 0, 0, []
    for commit, values in groups.items():
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        sum_sq += sum((v - mean) ** 2 for v in values)
        dof += len(values) - 1
        n += len(values)
        used.append(commit)
    if dof == 0:
        return {"sigma": float(fallback_sigma), "n": 0, "source": "fallback"}
    source = "baseline" if used == [baseline_commit] else "pooled"
    return {"sigma": math.sqrt(sum_sq / dof), "n": n, "source": source}


def threshold(cfg, sigma: float, n_candidate: int = 1, n_best: int = 1) -> tuple[float, float]:
    """(threshold, sigma_diff) for comparing a mean of n_candidate runs with a mean of n_best runs."""
    sigma_diff = sigma * math.sqrt(1.0 / max(1, n_candidate) + 1.0 / max(1, n_best))
    return max(cfg.noise.min_delta, cfg.noise.sigma_multiplier * sigma_diff), sigma_diff


def improvement(cfg, candidate: float, best: float) -> float:
    """Positive when the candidate is better, in the metric's direction."""
    return best - candidate if cfg.metric_direction == "lower" else candidate - best


def decide(
    cfg,
    candidate: float,
    n_candidate: int,
    best: float | None,
    n_best: int,
    sigma: float,
    comparable: bool = True,
) -> dict:
    """The suggestion for an ok run.

    Returns {"suggestion", "reason", "delta", "improvement", "threshold", "sigma_diff"}.
    """
    if best is None:
        return {
            "suggestion": "keep",
            "reason": "no best yet: this run sets the bar",
            "delta": None,
            "improvement": None,
            "threshold": None,
            "sigma_diff": None,
        }
    thr, sigma_diff = threshold(cfg, sigma, n_candidate, n_best)
    gain = round(improvement(cfg, candidate, best), 9)  # 1.5 - 1.499 must not read as 0.0010000000000000009
    out = {"delta": candidate - best, "improvement": gain, "threshold": thr, "sigma_diff": sigma_diff}
    if not comparable:
        return {**out, "suggestion": "discard", "reason": "not comparable (time budget differs): never kept"}
    if gain > thr:
        return {**out, "suggestion": "keep", "reason": f"better by {gain:.6f} > threshold {thr:.6f}"}
    if gain > RERUN_FRACTION * thr and n_candidate < MAX_REPLICATES:
        return {
            **out,
            "suggestion": "rerun",
            "reason": f"near-tie: better by {gain:.6f}, within the noise threshold {thr:.6f}; "
            f"run it again to average ({n_candidate}/{MAX_REPLICATES} runs)",
        }
    if gain > 0:
        return {**out, "suggestion": "discard", "reason": f"better by only {gain:.6f} <= threshold {thr:.6f}"}
    return {**out, "suggestion": "discard", "reason": f"not better (worse by {-gain:.6f})"}
