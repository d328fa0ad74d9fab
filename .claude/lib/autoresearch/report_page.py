"""report.html: the night on one self-contained page, for the human who opens it first in the morning.

One file, written atomically: inline CSS, inline SVG, a small inline script; no network, no CDN, opens from
file://. A Content-Security-Policy allows only this page's own style and script (by hash) and no fetches,
so nothing agent-written in it can run or phone home even if escaping were ever missed.

What it shows: a headline (baseline -> best on val and on the held-out test split, counts, experiments per
hour, hardware, wall time), the progress chart as SVG (discards grey, keeps green, crashes as red crosses,
the running best as a step line with the noise band, kept points labelled, held-out test points for kept
commits), the whole ledger as a table (sort by any column, filter by status or text, each row opens its
details: class, attested and reported val_bpb, steps, tokens, device, seconds, the diff of train.py against
its parent, a crash's last log lines, the memory entries that name it), and the memory entries written
during the night.

Everything agent-written (descriptions, reasons, diffs, logs, memory text) goes through html.escape.
Test figures: only from `report.collect` run by the human; inside Claude Code (CLAUDECODE=1) the page never
holds one, whatever it is given. Sizes are bounded (see the constants and docs/report.md).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import platform
import re
import subprocess
import time
from pathlib import Path

from . import fsutil, ledger, state, status
from . import outcomes as oc
from . import report as report_mod

DEFAULT_NAME = "report.html"
CLI = status.CLI

# --- size bounds (docs/report.md states the page bound they give) ---
DESCRIPTION_CHARS = ledger.MAX_DESCRIPTION_CHARS  # the longest a recorded description can be
REASON_CHARS = 400  # the runner's one-line reason
LABEL_CHARS = 45  # a kept point's label in the chart
DIFF_MAX_LINES = 300  # one experiment's diff
DIFF_MAX_BYTES = 12_000
LOG_LINES = 40  # a crash's last log lines
LOG_TAIL_BYTES = 8_000
MEMORY_TEXT_CHARS = 2_000  # one memory entry's text
MEMORY_MAX_ENTRIES = 300
TEXT_BUDGET_BYTES = 6_000_000  # all diffs, log tails and memory texts together, as escaped bytes
FIXED_BOUND_BYTES = 64_000  # style, script, headline, chart frame, memory frame
ROW_BOUND_BYTES = 8_000  # one experiment's row, details and chart mark, worst case (escaped text)
GIT_TIMEOUT_SECONDS = 60
DIFF_PROCESSES = 4  # git diff-tree processes at once for a long ledger (one per 100 commits, one per CPU)


def size_bound(rows: int) -> int:
    """The most bytes a page for `rows` ledger rows can take (tested on an adversarial ledger)."""
    return FIXED_BOUND_BYTES + ROW_BOUND_BYTES * rows + TEXT_BUDGET_BYTES


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clip(text: str, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value, digits: int = 6) -> str:
    return "–" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value:.{digits}f}"


def _signed(value, digits: int = 6) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}".replace("-", "−")


class _Budget:
    """The page's allowance for large agent-written text (diffs, logs, memory)."""

    def __init__(self, total: int):
        self.left = total
        self.refused = 0

    def take(self, escaped: str) -> bool:
        size = len(escaped.encode("utf-8"))
        if size > self.left:
            self.refused += 1
            return False
        self.left -= size
        return True


# --- git: every diff in two processes, however long the night ---


def _git(root: Path, args: list[str], stdin: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=root,
            input=stdin.encode("utf-8"),
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


def resolve_commits(root: Path, names: list[str]) -> dict[str, str]:
    """name (short or full hash) -> full commit id, for the names whose commit is in the object store."""
    names = list(dict.fromkeys(n for n in names if n and re.fullmatch(r"[0-9a-f]{4,40}", n)))
    if not names:
        return {}
    out = _git(root, ["cat-file", "--batch-check"], "".join(f"{n}^{{commit}}\n" for n in names))
    if out is None:
        return {}
    found = {}
    for name, line in zip(names, out.splitlines(), strict=False):
        parts = line.split()
        if len(parts) == 3 and parts[1] == "commit":
            found[name] = parts[0]
    return found


def diffs(root: Path, commits: list[str], paths: tuple[str, ...]) -> dict[str, str]:
    """full commit -> `git diff <commit>^ <commit> -- paths` (against the first parent; a root commit
    against the empty tree), from one `git diff-tree --stdin` per CPU (at most DIFF_PROCESSES)."""
    commits = list(dict.fromkeys(commits))
    if not commits:
        return {}
    args = ["git", "-c", "core.quotepath=off", "diff-tree", "-p", "--stdin", "--always", "--root"]
    args += ["--no-color", "--no-ext-diff", "--no-renames", "--", *paths]
    parts = max(1, min(DIFF_PROCESSES, os.cpu_count() or 1, len(commits) // 100))
    chunks = [commits[i::parts] for i in range(parts)]
    procs = []
    try:
        for chunk in chunks:
            proc = subprocess.Popen(args, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            procs.append((proc, "".join(c + "\n" for c in chunk).encode("utf-8")))
        outs = []
        for proc, stdin in procs:
            out, _ = proc.communicate(stdin, timeout=GIT_TIMEOUT_SECONDS)
            outs.append(out.decode("utf-8", errors="replace") if proc.returncode == 0 else "")
    except (OSError, subprocess.TimeoutExpired):
        for proc, _ in procs:
            proc.kill()
            proc.wait()
        return {}
    result: dict[str, str] = {}
    for out in outs:
        # a diff line always starts with a marker (' ', '+', '-', '@', 'diff', ...): a bare hash is a header
        heads = list(_HEADER.finditer(out))
        for i, m in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(out)
            # keep a little more than the page shows of it: a full rewrite of a big file stays cheap
            result[m.group(0)] = out[m.end() : min(end, m.end() + 2 * DIFF_MAX_BYTES)].strip("\n")
    return result


_HEADER = re.compile(r"^[0-9a-f]{40}$", re.M)


def _bounded_diff(text: str) -> tuple[str, int]:
    """(text cut to DIFF_MAX_LINES / DIFF_MAX_BYTES, number of lines left out)."""
    lines = text.split("\n")
    kept, size = [], 0
    for line in lines[:DIFF_MAX_LINES]:
        size += len(line.encode("utf-8")) + 1
        if size > DIFF_MAX_BYTES:
            break
        kept.append(line)
    return "\n".join(kept), len(lines) - len(kept)


# --- logs and memory ---


def _log_tail(cfg, record: dict | None) -> tuple[str | None, str | None]:
    """(last lines, relative path) of a run's full log under .autoresearch/logs, while it is still there."""
    if not record:
        return None, None
    commit, started = str(record.get("commit") or "")[:7], str(record.get("started_at") or "")
    if not commit or not started:
        return None, None
    path = cfg.full_log_path(commit, started, record.get("job"))
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return None, str(path.relative_to(cfg.root))
    lines = data.decode("utf-8", errors="replace").replace("\r", "\n").split("\n")
    if size > LOG_TAIL_BYTES:
        lines = lines[1:]  # the first line read is probably cut
    lines = [ln for ln in lines if ln.strip()][-LOG_LINES:]
    return "\n".join(lines), str(path.relative_to(cfg.root))


_HEX = re.compile(r"\b[0-9a-f]{7,40}\b")


def _memory(cfg, since: str, index: dict[str, int]) -> tuple[list[dict], int, str | None]:
    """(entries dated on or after `since` as dicts with the experiment each names, older count, problem)."""
    try:
        from memory import store
    except ImportError:
        return [], 0, "the memory library is not importable"
    try:
        mem = store.load(cfg.memory_path)
    except Exception as exc:  # noqa: BLE001 - a strange memory file must not cost the whole page
        return [], 0, f"memory not readable: {exc}"
    night, older = [], 0
    for entry in mem.entries:
        if not entry.date or entry.date < since:
            older += 1
            continue
        linked = None
        candidates = [entry.commit.lower()] if entry.commit else []
        candidates += _HEX.findall(f"{entry.title}\n{entry.body}".lower())
        for cand in candidates:
            if cand[:7] in index:
                linked = index[cand[:7]]
                break
        night.append(
            {
                "id": entry.id,
                "kind": entry.kind,
                "title": entry.title,
                "date": entry.date,
                "status": entry.status,
                "commit": entry.commit,
                "val_bpb": entry.number("val_bpb"),
                "delta": entry.number("delta"),
                "body": entry.body,
                "experiment": linked,
            }
        )
    return night[-MEMORY_MAX_ENTRIES:], older + max(0, len(night) - MEMORY_MAX_ENTRIES), None


# --- the data ---


def _hardware(records: list[dict], rows) -> str:
    devices: dict[str, int] = {}
    for rec in records:
        if rec.get("status") and rec.get("device"):
            devices[str(rec["device"])] = devices.get(str(rec["device"]), 0) + 1
    runs = ", ".join(f"{d} ({n} runs)" for d, n in sorted(devices.items(), key=lambda kv: -kv[1]))
    peak = max((r.memory_gb for r in rows if r.status != "crash"), default=0.0)
    host = f"{platform.system()} {platform.machine()}, {os.cpu_count() or '?'} CPUs"
    parts = [f"device {runs}" if runs else "device not recorded"]
    if peak > 0:
        parts.append(f"peak memory {peak:.1f} GB")
    parts.append(f"this machine: {host}")
    return " · ".join(parts)


def gather(cfg, rep: dict | None = None) -> dict:
    """Everything the page shows, as plain data. `rep` is report.collect's result (None: collect it now,
    without scoring the test split). Inside Claude Code every test figure is dropped here."""
    rep = rep or {}  # None: a refresh without test figures (report.collect is only needed for them)
    agent = report_mod.in_agent_session()
    st, err = state.read(cfg)
    if err or st is None:
        raise report_mod.ReportError(
            err or f"not set up: nothing to report (start a night with `{CLI} setup`)"
        )
    info = status.collect(cfg)
    try:
        rows = ledger.read_rows(cfg.results_path)
    except ledger.LedgerError as exc:
        raise report_mod.ReportError(str(exc)) from None
    records = ledger.read_records(cfg.sidecar_path)
    origin = status.provenance(rows, records)
    by_line = {
        r.get("row_line"): r for r in records if r.get("status") and isinstance(r.get("row_line"), int)
    }
    baseline_full = str(st.get("baseline_commit") or "")
    lower = cfg.metric_direction == "lower"

    test_scored = bool(rep.get("test_scored")) and not agent
    tests: dict[str, dict] = {}
    if test_scored:
        for e in rep.get("kept") or []:
            tests[e["commit"][:7]] = {"bpb": e.get("test_bpb"), "error": e.get("test_error")}
    if agent:
        test_note = "withheld inside Claude Code: run the report in your own terminal to score the test split"
    elif not test_scored:
        test_note = f"not scored in this refresh: run `{CLI} report` in your terminal to score the test split"
    else:
        test_note = None

    exps, best = [], None
    for n, row in enumerate(rows, 1):
        prov = origin.get(row.line_no, "hand")
        rec = by_line.get(row.line_no) if prov != "hand" else None
        full = str(rec.get("commit") or row.commit) if rec else row.commit
        val = row.val_bpb if row.status != "crash" else None
        delta = None if val is None or best is None else val - best
        if (
            row.status == "keep"
            and prov != "hand"
            and (best is None or (val < best if lower else val > best))
        ):
            best = val
        exps.append(
            {
                "n": n,
                "commit": row.commit[:7],
                "full": full,
                "status": row.status,
                "val_bpb": val,
                "delta": delta,
                "running_best": best,
                "memory_gb": row.memory_gb,
                "description": row.description,
                "provenance": prov,
                "record": rec,
                "baseline": bool(baseline_full) and full[:7] == baseline_full[:7],
                "test": tests.get(row.commit[:7]) if row.status == "keep" else None,
            }
        )

    # diffs: resolve every commit (hand rows have only 7 characters), then one diff-tree for them all
    resolved = resolve_commits(cfg.root, [e["full"] for e in exps])
    texts = diffs(cfg.root, [resolved[e["full"]] for e in exps if e["full"] in resolved], cfg.editable_files)
    for e in exps:
        sha = resolved.get(e["full"])
        e["reachable"] = sha is not None
        e["diff"] = texts.get(sha) if sha else None
        if sha:
            e["full"] = sha
        e["log"], e["log_path"] = (None, None)
        if e["status"] == "crash":
            e["log"], e["log_path"] = _log_tail(cfg, e["record"])

    index = {e["commit"]: e["n"] for e in exps}
    since = str(st.get("created_at") or "")[:10]
    memory, older, mem_problem = _memory(cfg, since, index)
    mem_by_exp: dict[int, list[dict]] = {}
    for m in memory:
        if m["experiment"]:
            mem_by_exp.setdefault(m["experiment"], []).append(m)

    created = state.parse_iso(st.get("created_at"))
    ends = [state.parse_iso(r.get("finished_at") or r.get("recorded_at")) for r in by_line.values()]
    ends = [t for t in ends if t]
    wall = (max(ends) - created).total_seconds() if created and ends else info["elapsed_seconds"]
    per_hour = len(rows) / (wall / 3600.0) if wall and wall > 60 else None

    base, top = info["baseline"], info["best"]
    headline = {
        "baseline": base,
        "best": top,
        "val_gain": (top["val_bpb"] - base["val_bpb"]) if base and top else None,
        "test_base": (tests.get(base["commit"]) or {}).get("bpb") if base and test_scored else None,
        "test_best": (tests.get(top["commit"]) or {}).get("bpb") if top and test_scored else None,
    }
    tb, tt = headline["test_base"], headline["test_best"]
    headline["test_gain"] = tt - tb if tb is not None and tt is not None else None
    return {
        "tag": st.get("tag"),
        "branch": st.get("branch"),
        "metric": cfg.metric,
        "lower": lower,
        "created_at": st.get("created_at"),
        "generated_at": state.now_iso(),
        "experiments": exps,
        "counts": info["counts"],
        "hand_rows": info["hand_rows"],
        "noise": info["noise"],
        "headline": headline,
        "per_hour": per_hour,
        "wall_seconds": wall,
        "hardware": _hardware(records, rows),
        "test_scored": test_scored,
        "test_note": test_note,
        "memory": memory,
        "memory_older": older,
        "memory_problem": mem_problem,
        "memory_by_exp": mem_by_exp,
        "editable": cfg.editable_files,
        "full_logs_kept": cfg.full_log_dir.name,
    }


# --- the chart ---

W, H = 1200, 500
ML, MR, MT, MB = 72, 24, 28, 46


def _nice_ticks(lo: float, hi: float, count: int = 6) -> tuple[list[float], int]:
    span = hi - lo if hi > lo else 1.0
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, k = [], 0
    while first + k * step <= hi + 1e-12:
        ticks.append(first + k * step)
        k += 1
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if step / mag == 2.5 else 0)
    return ticks, digits


def _y_range(values: list[float], threshold: float, lower: bool) -> tuple[float, float]:
    """(bottom, top) as plot.py chooses them: one terrible run does not squash the interesting range.
    Past the best end there is room for the crash marks and the labels near the right edge."""
    if not values:
        return 0.0, 1.0
    first, lo_v, hi_v = values[0], min(values), max(values)
    pad = max((hi_v - lo_v) * 0.05, threshold, 1e-3)
    if lower:
        top = min(hi_v, first + 3 * max(first - lo_v, 3 * threshold)) + pad
        return lo_v - max(pad, (top - lo_v) * 0.12), top
    bottom = max(lo_v, first - 3 * max(hi_v - first, 3 * threshold)) - pad
    return bottom, hi_v + max(pad, (hi_v - bottom) * 0.12)


def chart(data: dict) -> str:
    exps, lower = data["experiments"], data["lower"]
    threshold = float(data["noise"]["threshold"])
    n = max(len(exps), 1)
    values = [e["val_bpb"] for e in exps if e["val_bpb"] is not None]
    test_vals = [e["test"]["bpb"] for e in exps if e["test"] and e["test"].get("bpb") is not None]
    bottom, top = _y_range(values + test_vals, threshold, lower)
    pw, ph = W - ML - MR, H - MT - MB

    def px(x: float) -> float:
        return ML + (x - 0.5) / n * pw

    def py(y: float) -> float:
        return MT + (top - min(max(y, bottom), top)) / (top - bottom) * ph

    out = [
        f'<svg id="chart-svg" viewBox="0 0 {W} {H}" role="img" aria-label="val_bpb by experiment" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<rect class="plot" x="{ML}" y="{MT}" width="{pw}" height="{ph}"/>'
    ]
    yt, digits = _nice_ticks(bottom, top)
    for t in yt:
        y = py(t)
        out.append(
            f'<line class="grid" x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{t:.{digits}f}</text>'
        )
    xt, _ = _nice_ticks(1, n, 10)
    for t in xt:
        if float(t).is_integer():
            x = px(t)
            out.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{MT}" y2="{MT + ph}"/>'
                f'<text class="tick" x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle">{int(t)}</text>'
            )
    out.append(
        f'<text class="axis" x="{ML + pw / 2}" y="{H - 8}" text-anchor="middle">experiment #</text>'
        f'<text class="axis" transform="translate(16 {MT + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{esc(data['metric'])} ({'lower' if lower else 'higher'} is better)</text>"
    )
    # noise band and running best (a step line, from the first kept row on)
    steps = [(e["n"], e["running_best"]) for e in exps if e["running_best"] is not None]
    if steps:
        upper, under, line = [], [], []
        for i, (x, y) in enumerate(steps):
            x0, x1 = px(x - 0.5 if i == 0 else x), px(steps[i + 1][0] if i + 1 < len(steps) else x + 0.5)
            line.append(f"{'M' if i == 0 else 'L'}{x0:.1f} {py(y):.1f} L{x1:.1f} {py(y):.1f}")
            upper.append(f"{x0:.1f},{py(y + threshold):.1f} {x1:.1f},{py(y + threshold):.1f}")
            under.insert(0, f"{x1:.1f},{py(y - threshold):.1f} {x0:.1f},{py(y - threshold):.1f}")
        out.append(f'<polygon class="band" points="{" ".join(upper + under)}"/>')
        out.append(f'<path class="best" d="{" ".join(line)}"/>')
    # test points for kept commits (human only; never inside the agent)
    tpts = [(e["n"], e["test"]["bpb"], e) for e in exps if e["test"] and e["test"].get("bpb") is not None]
    if tpts:
        # the kept commits' test scores as a step line, like the running best on val
        d = [f"M{px(tpts[0][0]):.1f} {py(tpts[0][1]):.1f}"]
        for x, y, _ in tpts[1:]:
            d.append(f"H{px(x):.1f} V{py(y):.1f}")
        d.append(f"H{px(n + 0.5):.1f}")
        out.append(f'<path class="test-line" d="{" ".join(d)}"/>')
        for x, y, e in tpts:
            cx, cy = px(x), py(y)
            out.append(
                f'<path class="test-mark" data-n="{x}" d="M{cx:.1f} {cy - 5.5:.1f} L{cx + 5.5:.1f} {cy:.1f} '
                f'L{cx:.1f} {cy + 5.5:.1f} L{cx - 5.5:.1f} {cy:.1f} Z"><title>#{x} {esc(e["commit"])} '
                f"held-out test {y:.6f}</title></path>"
            )
    # one mark per experiment
    crash_y = MT + ph - 8
    labels = []
    for e in exps:
        x = px(e["n"])
        tip = f"#{e['n']} {e['commit']} {e['status']} {_num(e['val_bpb'])} · {_clip(e['description'], 120)}"
        title = f"<title>{esc(tip)}</title>"
        if e["status"] == "crash":
            out.append(
                f'<path class="mark crash" data-n="{e["n"]}" d="M{x - 4:.1f} {crash_y - 4} l8 8 m0 -8 l-8 8">'
                f"{title}</path>"
            )
            continue
        v = e["val_bpb"]
        clipped = " clipped" if v > top or v < bottom else ""
        hand = " hand" if e["provenance"] == "hand" else ""
        r = 5 if e["status"] == "keep" else 3.2
        out.append(
            f'<circle class="mark {e["status"]}{clipped}{hand}" data-n="{e["n"]}" '
            f'cx="{x:.1f}" cy="{py(v):.1f}" r="{r}">{title}</circle>'
        )
        if e["status"] == "keep" and e["provenance"] != "hand":
            # labels run up and to the right; near the right edge they end left of their point instead,
            # level, on the better side of the running best, where no result can be (never cut off)
            text = esc(_clip(e["description"], LABEL_CHARS))
            if x > ML + pw * 0.8:
                ly = py(v) + (14 if lower else -8)
                labels.append(
                    f'<text class="label" x="{x - 8:.1f}" y="{ly:.1f}" text-anchor="end">{text}</text>'
                )
            else:
                lx, ly = x + 6, py(v) - 6
                labels.append(
                    f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" '
                    f'transform="rotate(-30 {lx:.1f} {ly:.1f})">{text}</text>'
                )
    out.extend(labels)
    out.append("</svg>")
    return "".join(out)


# --- the page ---

CSS = """
:root{--keep:#2ca02c;--keep-d:#1a6e1a;--discard:#9a9a9a;--crash:#d62728;--test:#1f77b4;--ink:#1d2330;
--muted:#5d6678;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header,main{max-width:1320px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 10px}
.sub{color:var(--muted);font-size:13px}
code,pre{font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:14px 0;padding:14px 16px}
#js-error{background:#fde8e8;border:1px solid var(--crash);color:#8a1010;padding:8px 12px;border-radius:6px}
.cards{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:12px}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;margin:2px 0;white-space:nowrap}
.card.wide{grid-column:span 2}
.card .d{color:var(--muted);font-size:12.5px}
.gain{color:var(--keep-d)}.loss{color:var(--crash)}
.legend{display:flex;flex-wrap:wrap;gap:16px;color:var(--muted);font-size:12.5px;margin-bottom:6px}
.legend svg{vertical-align:-2px;margin-right:4px}
#chart-svg{width:100%;height:auto;display:block;overflow:visible}
.plot{fill:#fff;stroke:var(--line)}
.grid{stroke:#eef0f3}
.tick{font-size:11px;fill:var(--muted)}
.axis{font-size:12px;fill:var(--muted)}
.band{fill:var(--keep);opacity:.12}
.best{fill:none;stroke:var(--keep);stroke-width:2}
.mark{cursor:pointer}
.mark.discard{fill:var(--discard);opacity:.8}
.mark.keep{fill:var(--keep);stroke:#0b2e0b;stroke-width:.8}
.mark.clipped{fill:#fff;stroke:var(--discard);stroke-width:1.2}
.mark.hand{fill:#fff;stroke:var(--keep-d);stroke-dasharray:2 1.5}
.mark.crash{stroke:var(--crash);stroke-width:2;fill:none}
.mark:hover{stroke:#000;stroke-width:2}
.test-mark{fill:var(--test);stroke:#fff;stroke-width:1;cursor:pointer}
.test-line{fill:none;stroke:var(--test);stroke-width:1;stroke-dasharray:4 3;opacity:.7}
.label{font-size:11px;fill:var(--keep-d)}
.controls{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin-bottom:8px}
.controls label{cursor:pointer}
.controls input[type=search]{padding:4px 8px;border:1px solid var(--line);border-radius:4px;min-width:240px}
#shown{color:var(--muted)}
table{border-collapse:collapse;width:100%;table-layout:fixed}
#ledger-table th:nth-child(1){width:52px}#ledger-table th:nth-child(2){width:84px}
#ledger-table th:nth-child(3){width:86px}#ledger-table th:nth-child(4){width:96px}
#ledger-table th:nth-child(5){width:104px}#ledger-table th:nth-child(6){width:104px}
#ledger-table th:nth-child(7){width:118px}
th{text-align:left;font-weight:600;border-bottom:2px solid var(--line);position:sticky;top:0;background:#fff;
padding:0}
th button{all:unset;cursor:pointer;display:block;padding:6px 8px;white-space:nowrap}
th[aria-sort=ascending] button::after{content:" ▲";font-size:10px}
th[aria-sort=descending] button::after{content:" ▼";font-size:10px}
td{padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
tr.row{cursor:pointer}
table.hide-keep tbody[data-status=keep],table.hide-discard tbody[data-status=discard],
table.hide-crash tbody[data-status=crash]{display:none}
tr.row:hover td{background:#f3f6fb}
tbody.open tr.row td{background:#eef3fb}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.desc{word-break:break-word}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;color:#fff}
.badge.keep{background:var(--keep)}.badge.discard{background:var(--discard)}.badge.crash{background:var(--crash)}
.flag{color:var(--muted);font-size:11.5px;margin-left:6px}
tr.more td{background:#fbfcfe;padding:10px 14px 14px}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:6px 14px;margin:0 0 8px}
dl.facts div{min-width:0}
dt{color:var(--muted);font-size:11.5px}
dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-word}
h4{margin:10px 0 4px;font-size:13px}
pre{margin:0;background:#fff;border:1px solid var(--line);border-radius:4px;padding:6px 8px;overflow:auto;
max-height:420px;white-space:pre}
pre.diff span{display:block}
pre.diff .add{background:#e6ffec}pre.diff .del{background:#ffebe9}pre.diff .hunk{color:#6f42c1}
pre.diff .meta{color:var(--muted)}
pre.log{background:#1d2330;color:#e8e8e8;border-color:#1d2330}
.note{color:var(--muted);margin:4px 0}
.mem{list-style:none;padding:0;margin:0}
.mem li{border-top:1px solid var(--line);padding:8px 0}
.mem .kind{display:inline-block;min-width:64px;font-size:11.5px;color:var(--muted);text-transform:uppercase}
.mem .text{white-space:pre-wrap;margin:4px 0 0 68px;color:#333}
footer{max-width:1320px;margin:0 auto 30px;padding:0 20px;color:var(--muted);font-size:12px}
"""

SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  function fail(message) {
    body.setAttribute("data-error", String(message));
    var box = document.getElementById("js-error");
    if (box) { box.hidden = false; box.textContent = "report script error: " + message; }
  }
  window.onerror = function (message) { fail(message); };
  var table = document.getElementById("ledger-table");
  var groups = Array.prototype.slice.call(table.tBodies);
  var byN = {};
  groups.forEach(function (g) { byN[g.getAttribute("data-n")] = g; });

  function colour(pre) {
    if (!pre || pre.getAttribute("data-done")) { return; }
    pre.setAttribute("data-done", "1");
    var frag = document.createDocumentFragment();
    pre.textContent.split("\\n").forEach(function (line) {
      var span = document.createElement("span");
      var c = line.charAt(0);
      if (line.indexOf("+++") === 0 || line.indexOf("---") === 0 || line.indexOf("diff ") === 0 ||
          line.indexOf("index ") === 0) { span.className = "meta"; }
      else if (c === "+") { span.className = "add"; }
      else if (c === "-") { span.className = "del"; }
      else if (c === "@") { span.className = "hunk"; }
      span.textContent = line || " ";
      frag.appendChild(span);
    });
    pre.textContent = "";
    pre.appendChild(frag);
  }
  function details(g) {  // the details are inert in a <template> until first opened: a fast first paint
    var more = g.querySelector("tr.more");
    if (!more) {
      g.appendChild(g.querySelector("template").content.cloneNode(true));
      more = g.querySelector("tr.more");
    }
    return more;
  }
  function isOpen(g) { return g.classList.contains("open"); }
  function setOpen(g, open) {
    var more = open || g.querySelector("tr.more") ? details(g) : null;
    if (more) { more.hidden = !open; }
    g.classList.toggle("open", open);
    g.rows[0].setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { colour(more.querySelector("pre.diff")); }
  }
  function reveal(n) {
    var g = byN[n];
    if (!g) { return; }
    var box = document.getElementById("f-" + g.getAttribute("data-status"));
    if (!box.checked) { box.checked = true; apply(); }
    if (g.hidden) { search.value = ""; apply(); }
    setOpen(g, true);
    g.scrollIntoView({block: "center"});
  }
  table.addEventListener("click", function (e) {
    var tr = e.target.closest("tr.row");
    if (tr) { setOpen(tr.parentNode, !isOpen(tr.parentNode)); }
  });
  table.addEventListener("keydown", function (e) {
    var tr = e.target.closest("tr.row");
    if (tr && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      setOpen(tr.parentNode, !isOpen(tr.parentNode));
    }
  });

  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function key(g, col, numeric) {
    var cell = g.rows[0].cells[col];
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent; }
    if (!numeric) { return v.toLowerCase(); }
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      var numeric = th.getAttribute("data-type") === "num";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var keyed = groups.map(function (g) { return [key(g, col, numeric), +g.getAttribute("data-n"), g]; });
      keyed.sort(function (a, b) {
        if (a[0] === b[0]) { return a[1] - b[1]; }
        if (a[0] === null) { return 1; }
        if (b[0] === null) { return -1; }
        return (a[0] < b[0] ? -1 : 1) * (asc ? 1 : -1);
      });
      var frag = document.createDocumentFragment();
      keyed.forEach(function (k) { frag.appendChild(k[2]); });
      table.appendChild(frag);
    });
  });

  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.status-filter"));
  var search = document.getElementById("search");
  var shown = document.getElementById("shown");
  var texts = null;
  var lastQ = "";
  function apply() {  // status: one class on the table (one style pass); text: per row, only when it changed
    var on = {};
    boxes.forEach(function (b) {
      on[b.value] = b.checked;
      table.classList.toggle("hide-" + b.value, !b.checked);
    });
    var q = search.value.trim().toLowerCase();
    if (q !== lastQ) {
      if (!texts) {
        texts = {};
        groups.forEach(function (g) {
          texts[g.getAttribute("data-n")] = (g.rows[0].cells[1].textContent + " " +
            g.rows[0].cells[7].textContent).toLowerCase();
        });
      }
      groups.forEach(function (g) {
        var hit = !q || texts[g.getAttribute("data-n")].indexOf(q) >= 0;
        if (g.hidden === hit) { g.hidden = !hit; }
      });
      lastQ = q;
    }
    var count = 0;
    groups.forEach(function (g) { if (!g.hidden && on[g.getAttribute("data-status")]) { count++; } });
    shown.textContent = count + " of " + groups.length + " shown";
  }
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
  search.addEventListener("input", apply);

  var svg = document.getElementById("chart-svg");
  if (svg) {
    svg.addEventListener("click", function (e) {
      var m = e.target.closest(".mark, .test-mark");
      if (m) { reveal(m.getAttribute("data-n")); }
    });
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-exp]");
    if (a) { e.preventDefault(); reveal(a.getAttribute("data-exp")); }
  });
  var m = /^#exp-(\\d+)$/.exec(location.hash);
  if (m) { reveal(m[1]); }
  apply();
  void body.offsetHeight;
  body.setAttribute("data-ready-ms", performance.now().toFixed(1));
  body.setAttribute("data-ready", "1");
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _duration(seconds) -> str:
    return status._fmt_duration(seconds)


def _headline(data: dict) -> str:
    h, c = data["headline"], data["counts"]
    base, best = h["baseline"], h["best"]
    cards = []
    if base and best:
        gain = h["val_gain"]
        better = gain < 0 if data["lower"] else gain > 0
        pct = f" ({gain / base['val_bpb'] * 100:+.2f}%)".replace("-", "−") if base["val_bpb"] else ""
        cards.append(
            f'<div class="card wide"><div class="k">{esc(data["metric"])}, validation: baseline → best</div>'
            f'<div class="v">{_num(base["val_bpb"], 4)} → {_num(best["val_bpb"], 4)}</div>'
            f'<div class="d"><span class="{"gain" if better else "loss"}">{_signed(gain)}{pct}</span> · '
            f"{esc(base['commit'])} → {esc(best['commit'])} {esc(_clip(best['description'], 60))}</div></div>"
        )
    else:
        cards.append('<div class="card wide"><div class="k">validation</div><div class="v">–</div>'
                     '<div class="d">no baseline recorded yet</div></div>')  # fmt: skip
    if data["test_scored"] and h["test_base"] is not None and h["test_best"] is not None:
        gain = h["test_gain"]
        better = gain < 0 if data["lower"] else gain > 0
        cards.append(
            f'<div class="card wide" id="test-card"><div class="k">held-out test: baseline → best</div>'
            f'<div class="v">{_num(h["test_base"], 4)} → {_num(h["test_best"], 4)}</div>'
            f'<div class="d"><span class="{"gain" if better else "loss"}">{_signed(gain)}</span> · '
            f"the split no keep decision saw</div></div>"
        )
    else:
        note = data["test_note"] or "no test score for the baseline or the best (no saved model)"
        cards.append(
            f'<div class="card wide" id="test-card"><div class="k">held-out test</div><div class="v">–</div>'
            f'<div class="d">{esc(note)}</div></div>'
        )
    n = len(data["experiments"])
    cards.append(
        f'<div class="card"><div class="k">experiments</div><div class="v">{n}</div>'
        f'<div class="d">{c["keep"]} keep · {c["discard"]} discard · {c["crash"]} crash'
        + (f" · {data['hand_rows']} by hand (unattested)" if data["hand_rows"] else "")
        + "</div></div>"
    )
    rate = f"{data['per_hour']:.1f}" if data["per_hour"] else "–"
    cards.append(
        f'<div class="card"><div class="k">pace</div><div class="v">{rate} / hour</div>'
        f'<div class="d">wall time {esc(_duration(data["wall_seconds"]))} (setup → last record)</div></div>'
    )
    nz = data["noise"]
    cards.append(
        f'<div class="card"><div class="k">noise</div><div class="v">σ {nz["sigma"]:.4f}</div>'
        f'<div class="d">{esc(nz["source"])}, n={nz["n"]} · keep threshold {nz["threshold"]:.4f}</div></div>'
    )
    cards.append(
        f'<div class="card"><div class="k">hardware</div><div class="d">{esc(data["hardware"])}</div></div>'
    )
    return '<section id="headline"><div class="cards">' + "".join(cards) + "</div></section>"


def headline_lines(data: dict) -> list[str]:
    """The page's headline as `key: value` lines, for `status --headline` and `status` at a terminal."""
    h, c, nz = data["headline"], data["counts"], data["noise"]
    base, best = h["baseline"], h["best"]
    lines = []
    if base and best:
        gain = h["val_gain"]
        pct = f" ({gain / base['val_bpb'] * 100:+.2f}%)" if base["val_bpb"] else ""
        lines.append(
            f"headline: {data['metric']} baseline {base['val_bpb']:.6f} -> best {best['val_bpb']:.6f} "
            f"{gain:+.6f}{pct} | {base['commit']} -> {best['commit']} {_clip(best['description'], 60)}"
        )
    else:
        lines.append("headline: no baseline recorded yet")
    if data["test_scored"] and h["test_base"] is not None and h["test_best"] is not None:
        lines.append(
            f"held-out test: baseline {h['test_base']:.6f} -> best {h['test_best']:.6f} {h['test_gain']:+.6f}"
            " (the split no keep decision saw)"
        )
    else:
        lines.append(f"held-out test: {data['test_note'] or 'no saved model for the baseline or the best'}")
    rate = f"{data['per_hour']:.1f}/hour" if data["per_hour"] else "-"
    lines.append(
        f"night: {len(data['experiments'])} experiments ({c['keep']} keep, {c['discard']} discard, "
        f"{c['crash']} crash) | {rate} | wall {_duration(data['wall_seconds'])} | {data['hardware']}"
    )
    lines.append(
        f"noise: sigma {nz['sigma']:.4f} ({nz['source']}, n={nz['n']}) | keep threshold {nz['threshold']:.4f}"
    )
    return lines


def _legend(data: dict, svg: str) -> str:
    def sw(inner):
        return f'<svg width="14" height="14" viewBox="0 0 14 14">{inner}</svg>'

    items = [
        (sw('<circle class="mark discard" cx="7" cy="7" r="3.5"/>'), "discard"),
        (sw('<circle class="mark keep" cx="7" cy="7" r="5"/>'), "keep (labelled)"),
        (sw('<path class="mark crash" d="M3 3 l8 8 m0 -8 l-8 8"/>'), "crash"),
        (sw('<path class="best" d="M0 9 H6 V5 H14"/>'), "running best"),
        (
            sw('<rect class="band" x="0" y="3" width="14" height="8"/>'),
            f"noise threshold ±{data['noise']['threshold']:.4f} ({esc(data['noise']['source'])})",
        ),
    ]
    if " clipped" in svg:
        items.append((sw('<circle class="mark clipped" cx="7" cy="7" r="3.5"/>'), "off the scale"))
    if " hand" in svg:
        items.append((sw('<circle class="mark keep hand" cx="7" cy="7" r="5"/>'), "keep written by hand"))
    if "test-mark" in svg:
        items.append(
            (sw('<path class="test-mark" d="M7 1.5 L12.5 7 L7 12.5 L1.5 7 Z"/>'), "held-out test (kept)")
        )
    return '<div class="legend">' + "".join(f"<span>{s}{t}</span>" for s, t in items) + "</div>"


def _facts(e: dict, data: dict) -> str:
    rec = e["record"] or {}
    seconds = rec.get("seconds") or {}
    attested = rec.get("val_bpb") if rec.get("attested") else None
    test = e["test"] or {}
    provenance = {"attested": "attested by the runner", "runner": "runner (attestation off)",
                  "hand": "written by hand: unattested"}[e["provenance"]]  # fmt: skip
    if e["provenance"] == "runner" and e["status"] == "crash":
        provenance = "recorded by the runner (no metric)"
    facts = [
        ("outcome", _clip(rec.get("outcome") or ("–" if e["provenance"] == "hand" else "?"), 20),
         oc.MEANING.get(rec.get("outcome"), "")),
        ("attested val_bpb", _num(attested) if rec.get("attested") else
         "–" if e["status"] == "crash" else "not attested", ""),
        ("reported val_bpb", _num(rec.get("reported_val_bpb")), "train.py's own printout"),
    ]  # fmt: skip
    if data["test_scored"] and e["status"] == "keep":
        facts.append(
            (
                "held-out test",
                _num(test.get("bpb")) if test.get("bpb") is not None else test.get("error") or "–",
                "",
            )
        )
    facts += [
        ("steps", rec.get("steps") if rec.get("steps") is not None else "–", ""),
        ("tokens", f"{rec['tokens_M']}M" if rec.get("tokens_M") is not None else "–", ""),
        ("device", _clip(rec.get("device") or "–", 40), ""),
        ("training seconds", _num(seconds.get("training_seconds"), 1), ""),
        ("total seconds", _num(seconds.get("total_seconds"), 1), "train.py start to end"),
        ("wall seconds", _num(rec.get("wall_seconds"), 1), "the whole supervised run, attestation included"),
        ("memory", f"{e['memory_gb']:.1f} GB", ""),
        ("provenance", provenance, ""),
        ("base commit", str(rec.get("base_commit") or "–")[:7], "the incumbent when the run started"),
        ("suggestion", _clip(rec.get("suggestion") or "–", 20), "the noise rule's suggestion"),
        ("started", _clip(rec.get("started_at") or "–", 40), ""),
        ("commit", _clip(e["full"], 40), ""),
    ]  # fmt: skip
    cells = "".join(
        f"<div><dt>{esc(k)}</dt><dd" + (f' title="{esc(t)}"' if t else "") + f">{esc(v)}</dd></div>"
        for k, v, t in facts
    )
    return f'<dl class="facts">{cells}</dl>'


def _details(e: dict, data: dict, budget: _Budget) -> str:
    rec = e["record"] or {}
    parts = [_facts(e, data)]
    if rec.get("reason"):  # it can quote train.py's output: charged to the text budget
        reason = f'<p class="note">{esc(_clip(rec["reason"], REASON_CHARS))}</p>'
        parts.append(reason if budget.take(reason) else "")
    if e["provenance"] == "hand":
        parts.append('<p class="note">no runner record: this row was written by hand, never by record</p>')
    paths = " ".join(data["editable"])
    short = e["commit"]
    if e["baseline"]:
        parts.append('<p class="note">the baseline: the night started from this commit</p>')
    elif not e["reachable"]:
        parts.append(
            f'<p class="note">commit not reachable: {esc(short)} is not in this repository any more '
            "(garbage-collected, or recorded in another clone), so its diff cannot be shown</p>"
        )
    elif not e["diff"]:
        parts.append(f'<p class="note">no change to {esc(paths)} in {esc(short)}</p>')
    else:
        text, more = _bounded_diff(e["diff"])
        escaped = esc(text)
        cmd = f"git diff {short}^ {short} -- {paths}"
        if budget.take(escaped):
            tail = f" · {more} more lines: run <code>{esc(cmd)}</code>" if more else ""
            parts.append(f"<h4>diff against its parent <code>{esc(cmd)}</code>{tail}</h4>")
            parts.append(f'<pre class="diff">{escaped}</pre>')
        else:
            parts.append(
                f'<p class="note">diff left out to keep the page bounded: run <code>{esc(cmd)}</code></p>'
            )
    if e["status"] == "crash":
        if e["log"]:
            escaped = esc(e["log"])
            if budget.take(escaped):
                parts.append(f"<h4>last log lines <code>{esc(e['log_path'])}</code></h4>")
                parts.append(f'<pre class="log">{escaped}</pre>')
            else:
                parts.append(
                    f'<p class="note">log left out to keep the page bounded: {esc(e["log_path"])}</p>'
                )
        elif e["log_path"]:
            parts.append(
                f'<p class="note">no full log any more ({esc(e["log_path"])}): the runner keeps only the '
                "newest runs' full output</p>"
            )
        else:
            parts.append('<p class="note">no runner record, so no log to show</p>')
    linked = data["memory_by_exp"].get(e["n"]) or []
    if linked:
        links = ", ".join(
            f'<a href="#mem-{esc(m["id"])}">{esc(m["id"])}</a> {esc(_clip(m["title"], 80))}'
            for m in linked[:10]
        )
        links = f'<p class="note">memory: {links}</p>'
        parts.append(links if budget.take(links) else "")
    return "".join(parts)


def _table(data: dict, budget: _Budget) -> str:
    cols = [("#", "num"), ("commit", "text"), ("status", "text"), (data["metric"], "num"),
            ("Δ vs best", "num"), ("memory GB", "num"), ("outcome", "text"),
            ("description", "text")]  # fmt: skip
    head = "".join(
        f'<th data-type="{t}" aria-sort="none"><button type="button">{esc(name)}</button></th>'
        for name, t in cols
    )
    out = [
        '<section id="ledger"><h2>Ledger</h2><div class="controls">',
        *(
            f'<label><input type="checkbox" class="status-filter" id="f-{s}" value="{s}" checked> '
            f'<span class="badge {s}">{s}</span> {data["counts"][s]}</label>'
            for s in ledger.STATUSES
        ),
        '<input type="search" id="search" placeholder="filter by description or commit" aria-label="filter">',
        '<span id="shown"></span></div>',
        f'<table id="ledger-table"><thead><tr>{head}</tr></thead>',
    ]
    for e in data["experiments"]:
        rec = e["record"] or {}
        val = e["val_bpb"]
        unattested = e["provenance"] == "hand" or (e["provenance"] == "runner" and e["status"] != "crash")
        flag = '<span class="flag">[unattested]</span>' if unattested else ""
        outcome = _clip(rec.get("outcome") or "–", 20)
        val_key = "" if val is None else f"{val:.6f}"
        delta_key = "" if e["delta"] is None else f"{e['delta']:.6f}"
        out.append(
            f'<tbody class="exp" id="exp-{e["n"]}" data-n="{e["n"]}" data-status="{e["status"]}">'
            f'<tr class="row" tabindex="0" aria-expanded="false"><td class="num">{e["n"]}</td>'
            f"<td><code>{esc(e['commit'])}</code></td>"
            f'<td><span class="badge {e["status"]}">{e["status"]}</span></td>'
            f'<td class="num" data-v="{val_key}">{_num(val)}</td>'
            f'<td class="num" data-v="{delta_key}">{_signed(e["delta"])}</td>'
            f'<td class="num">{e["memory_gb"]:.1f}</td><td>{esc(outcome)}</td>'
            f'<td class="desc">{esc(_clip(e["description"], DESCRIPTION_CHARS))}{flag}</td></tr>'
            f'<template><tr class="more"><td colspan="{len(cols)}">{_details(e, data, budget)}</td></tr>'
            "</template></tbody>"
        )
    out.append("</table></section>")
    return "".join(out)


def _memory_section(data: dict, budget: _Budget) -> str:
    items = []
    for m in data["memory"]:
        link = ""
        if m["experiment"]:
            n = m["experiment"]
            link = f' · <a href="#exp-{n}" data-exp="{n}">experiment #{n} ({esc(m["commit"] or "named")})</a>'
        elif m["commit"]:
            link = f" · commit {esc(m['commit'])} (not in the ledger)"
        facts = " · ".join(
            x
            for x in (
                esc(m["date"]),
                esc(m["status"]) if m["status"] else "",
                f"val_bpb {_num(m['val_bpb'])}" if m["val_bpb"] is not None else "",
                f"delta {_signed(m['delta'])}" if m["delta"] is not None else "",
            )
            if x
        )
        body = esc(_clip(m["body"], MEMORY_TEXT_CHARS))
        item = (
            f'<li id="mem-{esc(m["id"])}"><span class="kind">{esc(m["kind"])}</span> <b>{esc(m["id"])}</b> '
            f'{esc(_clip(m["title"], 200))} <span class="sub">{facts}{link}</span>'
            + (f'<div class="text">{body}</div>' if body else "")
            + "</li>"
        )
        if not budget.take(item):
            items.append('<li class="note">further entries left out to keep the page bounded</li>')
            break
        items.append(item)
    note = ""
    if data["memory_problem"]:
        note = f'<p class="note">{esc(data["memory_problem"])}</p>'
    elif not items:
        note = '<p class="note">no memory entries dated from the night’s start on</p>'
    older = data["memory_older"]
    older_note = f'<p class="note">{older} older entries not shown</p>' if older else ""
    return (
        f'<section id="memory"><h2>Memory written during the night ({len(data["memory"])})</h2>{note}'
        f'<ul class="mem">{"".join(items)}</ul>{older_note}</section>'
    )


def render(data: dict) -> str:
    budget = _Budget(TEXT_BUDGET_BYTES)
    svg = chart(data)
    table = _table(data, budget)
    memory = _memory_section(data, budget)
    csp = (
        f"default-src 'none'; style-src '{_sha256(CSS)}'; script-src '{_sha256(SCRIPT)}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    n, c = len(data["experiments"]), data["counts"]
    title = f"autoresearch {data['tag']}: {n} experiments, {c['keep']} kept"
    left_out = (
        f" · {budget.refused} diffs/logs left out to keep the page under its bound" if budget.refused else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        '<body data-ready="0"><header>'
        f"<h1>autoresearch · {esc(data['tag'])}</h1>"
        f'<div class="sub">branch {esc(data["branch"])} · set up {esc(data["created_at"])} · '
        f"page written {esc(data['generated_at'])}</div>"
        '<div id="js-error" hidden></div></header><main>'
        + _headline(data)
        + f'<section id="chart"><h2>Progress: {n} experiments, {c["keep"]} kept</h2>'
        + _legend(data, svg)
        + svg
        + "</section>\n"
        + table
        + "\n"
        + memory
        + "</main><footer>written by <code>"
        + esc(f"{CLI} report")
        + "</code> from results.tsv, .autoresearch/runs.jsonl, git and the memory files"
        + left_out
        + f"</footer>\n<script>{SCRIPT}</script></body></html>\n"
    )


def default_path(cfg) -> Path:
    return cfg.root / DEFAULT_NAME


def write(cfg, path: str | os.PathLike | None = None, rep: dict | None = None) -> dict:
    """Gather, render and atomically replace the page. Returns {"path", "bytes", "seconds", "experiments"}.

    rep=None (e.g. a refresh after `record`) never scores the test split, so it stays cheap."""
    t0 = time.perf_counter()
    data = gather(cfg, rep)
    text = render(data).encode("utf-8")
    out = Path(path) if path else default_path(cfg)
    if not out.is_absolute():
        out = Path.cwd() / out
    fsutil.atomic_write(out, text)
    return {
        "path": str(out),
        "bytes": len(text),
        "seconds": round(time.perf_counter() - t0, 3),
        "experiments": len(data["experiments"]),
        "test_figures": data["test_scored"],
    }


def format_result(result: dict) -> str:
    size = result["bytes"]
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"
    return (
        f"page: {result['path']} ({result['experiments']} experiments, {shown}, {result['seconds']:.2f} s); "
        f"open it in a browser: {Path(result['path']).as_uri()}"
    )
