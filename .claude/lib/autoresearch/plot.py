"""progress.png in the style of upstream's analysis notebook, plus crashes and the noise band.

x = experiment number (row order in results.tsv), y = val_bpb. Discards grey, keeps green, crashes as red
crosses on the bottom edge, the running best as a step line, keeps annotated with their description,
and a band of +/- the keep threshold around the running best (results inside it are within noise).
"""

from __future__ import annotations

from . import ledger, status

FIGSIZE = (16, 8)
DPI = 150
LABEL_CHARS = 45
DEFAULT_NAME = "progress.png"


def plot(cfg, out=None) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ledger.read_rows(cfg.results_path)  # LedgerError is reported by the CLI as one line
    info = status.collect(cfg)
    out_path = (cfg.root / out) if out else (cfg.root / DEFAULT_NAME)
    lower = cfg.metric_direction == "lower"
    threshold = info["noise"]["threshold"]

    xs = list(range(1, len(rows) + 1))
    ok = [(x, r) for x, r in zip(xs, rows, strict=True) if r.status != "crash"]
    values = [r.val_bpb for _, r in ok]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    if values:
        first, lo_v, hi_v = values[0], min(values), max(values)
        pad = max((hi_v - lo_v) * 0.05, threshold, 1e-3)
        if lower:  # like upstream, do not let one terrible run squash the interesting range
            top, bottom = min(hi_v, first + 3 * max(first - lo_v, 3 * threshold)) + pad, lo_v - pad
        else:
            top, bottom = hi_v + pad, max(lo_v, first - 3 * max(hi_v - first, 3 * threshold)) - pad
    else:
        top, bottom = 1.0, 0.0

    discards = [(x, min(max(r.val_bpb, bottom), top)) for x, r in ok if r.status == "discard"]
    keeps = [(x, r) for x, r in ok if r.status == "keep"]
    if discards:
        ax.scatter(*zip(*discards, strict=True), s=18, color="#b0b0b0", alpha=0.8, label="discard", zorder=2)
    if keeps:
        ax.scatter(
            [x for x, _ in keeps],
            [r.val_bpb for _, r in keeps],
            s=46,
            color="#2ca02c",
            edgecolor="black",
            linewidth=0.5,
            label="keep",
            zorder=4,
        )
    crashes = [x for x, r in zip(xs, rows, strict=True) if r.status == "crash"]
    if crashes:
        crash_y = [bottom + (top - bottom) * 0.02] * len(crashes)
        ax.scatter(crashes, crash_y, marker="x", s=40, color="#d62728", label="crash", zorder=3)

    # running best over kept rows, as a step line with the noise band around it
    best_x, best_y, best = [], [], None
    for x, r in zip(xs, rows, strict=True):
        if r.status == "keep" and (best is None or (r.val_bpb < best if lower else r.val_bpb > best)):
            best = r.val_bpb
        if best is not None:
            best_x.append(x)
            best_y.append(best)
    if best_x:
        ax.step(best_x, best_y, where="post", color="#2ca02c", linewidth=1.6, label="running best", zorder=3)
        lo = [y - threshold for y in best_y]
        hi = [y + threshold for y in best_y]
        ax.fill_between(
            best_x,
            lo,
            hi,
            step="post",
            color="#2ca02c",
            alpha=0.12,
            zorder=1,
            label=f"noise threshold ±{threshold:.4f} ({info['noise']['source']})",
        )
    for x, r in keeps:
        label = r.description if len(r.description) <= LABEL_CHARS else r.description[: LABEL_CHARS - 1] + "…"
        ax.annotate(
            label,
            (x, r.val_bpb),
            textcoords="offset points",
            xytext=(6, 6),
            rotation=30,
            fontsize=8,
            color="#1a6e1a",
        )

    n_keep = sum(1 for r in rows if r.status == "keep")
    ax.set_title(f"Autoresearch Progress: {len(rows)} Experiments, {n_keep} Kept Improvements", fontsize=14)
    ax.set_xlabel("Experiment #")
    ax.set_ylabel(f"{cfg.metric} ({'lower' if lower else 'higher'} is better)")
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, max(len(rows), 1) + 1)
    ax.grid(True, alpha=0.3)
    if rows:
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return {
        "path": str(out_path),
        "experiments": len(rows),
        "kept": n_keep,
        "crashes": len(crashes),
        "best": best,
        "noise_threshold": threshold,
    }


def format_result(result: dict) -> str:
    best = "-" if result["best"] is None else f"{result['best']:.6f}"
    return (
        f"plot: {result['path']} | {result['experiments']} experiments, {result['kept']} kept, "
        f"{result['crashes']} crashes | best {best} | noise threshold {result['noise_threshold']:.6f}"
    )
