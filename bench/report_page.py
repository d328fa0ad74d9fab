"""report.html at scale: the cost of writing the page, its size, and its render time in headless Chromium.

    uv run bench/report_page.py                        # 100 and 1,000 rows: 5 writes, 3 browser loads each
    uv run bench/report_page.py --rows 1000 --worst    # + the size bound's worst case at 1,000 rows
    uv run bench/report_page.py --json
    uv run bench/report_page.py --screenshot docs/report.png   # the docs screenshot (an 80-row night)

Each ledger is a realistic night built by tests/report/report_night.py: a real git repository with one
commit per experiment (discarded ones off the branch, as `record` leaves them), results.tsv, runs.jsonl,
state, crash logs and memory entries. "write" is report_page.write without test scoring (what a refresh
after every `record` would cost): gather (ledger, sidecar, status, every diff from git, logs, memory),
render, atomic write. "render" is navigation start -> load event + two animation frames, in the page's own
clock (performance.now), i.e. parsed, styled, laid out and painted; the first load and the median of the
loads are printed. "--worst" builds the adversarial ledger the size test uses: every description 300
characters that escape to 4-6 bytes each, and every experiment rewriting all of train.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "report"))
sys.path.insert(0, str(ROOT / ".claude" / "lib"))

from autoresearch import report_page  # noqa: E402
from report_browser import Browser, find_chromium  # noqa: E402
from report_night import make_night  # noqa: E402


def measure(root: Path, rows: int, writes: int, loads: int, binary: str | None, worst: bool = False) -> dict:
    t0 = time.perf_counter()
    if worst:
        night = make_night(root, experiments=rows, seed=5, big_diffs=True,
                           descriptions={i: '"<&' * 100 for i in range(1, rows + 1)})  # fmt: skip
    else:
        night = make_night(root, experiments=rows, seed=11)
    built = time.perf_counter() - t0
    times, result = [], None
    for _ in range(writes):
        result = report_page.write(night.cfg)
        times.append(result["seconds"])
    out = {
        "rows": night.rows,
        "worst_case": worst,
        "night_build_s": round(built, 2),
        "write_s_median": round(statistics.median(times), 3),
        "write_s_min": round(min(times), 3),
        "write_s_max": round(max(times), 3),
        "bytes": result["bytes"],
        "bound_bytes": report_page.size_bound(night.rows),
    }
    if binary and loads:
        with Browser(binary) as browser:
            pages = [browser.open(result["path"]) for _ in range(loads)]
            out["render_ms_first"] = round(pages[0].render_ms)
            out["render_ms_median"] = round(statistics.median(p.render_ms for p in pages))
            out["render_ms_max"] = round(max(p.render_ms for p in pages))
            out["console_errors"] = sum(len(p.errors) for p in pages)
            counts = browser.evaluate(
                "[document.querySelectorAll('tbody.exp').length, "
                "document.querySelectorAll('#chart-svg .mark').length, document.body.dataset.ready]"
            )
            out["table_rows"], out["chart_marks"], out["script_ran"] = counts[0], counts[1], counts[2] == "1"
    return out


def screenshot(path: Path, binary: str) -> dict:
    """The docs picture: an 80-row night as the human sees it in the morning (test figures made up, since
    this night has no trained models), discards filtered out, a kept row and a crash opened."""
    with tempfile.TemporaryDirectory() as tmp:
        night = make_night(Path(tmp) / "night", experiments=80, seed=3)
        result = report_page.write(night.cfg, rep=night.report_with_tests())
        statuses = [ln.split("\t")[3] for ln in night.cfg.results_path.read_text().splitlines()[1:]]
        keep = next(n for n, s in enumerate(statuses, 1) if s == "keep" and n > 3)
        logs = {p.name[:7] for p in night.cfg.full_log_dir.glob("*.log")}
        commits = [ln.split("\t")[0] for ln in night.cfg.results_path.read_text().splitlines()[1:]]
        crash = next(n for n, s in enumerate(statuses, 1) if s == "crash" and commits[n - 1] in logs)
        with Browser(binary, width=1280, height=2680) as browser:
            page = browser.open(result["path"])
            browser.evaluate("document.getElementById('f-discard').click()")  # keeps and crashes only
            for n in (keep, crash):
                browser.evaluate(f"document.querySelector('#exp-{n} tr.row').click()")
            browser.evaluate("window.scrollTo(0, 0)")
            browser.screenshot(path)
    size = path.stat().st_size
    return {"screenshot": str(path), "bytes": size, "opened": [keep, crash], "errors": page.errors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--writes", type=int, default=5)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--worst", action="store_true", help="also the adversarial ledger at the largest size")
    ap.add_argument("--screenshot", type=Path, help="write the docs screenshot here and exit")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    binary = find_chromium()
    if args.screenshot:
        if not binary:
            print("error: headless Chromium not found (apt-get install chromium)", file=sys.stderr)
            return 1
        print(json.dumps(screenshot(args.screenshot.resolve(), binary)))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            results.append(measure(Path(tmp) / f"n{rows}", rows, args.writes, args.loads, binary))
        if args.worst:
            rows = max(args.rows)
            results.append(measure(Path(tmp) / "worst", rows, 2, args.loads, binary, worst=True))
    if args.json:
        print(json.dumps({"browser": binary, "results": results}, indent=2))
        return 0
    print(f"browser: {binary or 'none found: render times skipped'}")
    for r in results:
        line = (
            f"{r['rows']:>5} rows{' (worst case)' if r['worst_case'] else ''}: "
            f"write {r['write_s_median']:.3f} s "
            f"median ({r['write_s_min']:.3f}-{r['write_s_max']:.3f}), page {r['bytes'] / 1e6:.2f} MB "
            f"(bound {r['bound_bytes'] / 1e6:.2f} MB)"
        )
        if "render_ms_first" in r:
            line += (
                f", render {r['render_ms_first']} ms first load, {r['render_ms_median']} ms median, "
                f"{r['render_ms_max']} ms max, {r['console_errors']} console errors, "
                f"{r['table_rows']} rows / {r['chart_marks']} marks"
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
