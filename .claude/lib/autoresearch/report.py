"""The morning report: the baseline and every keep, on val and on the held-out test split no decision saw.

Test figures are for the human. Inside Claude Code (which sets CLAUDECODE=1 in every Bash call) they are
withheld, so the agent can never select on them; nothing else in the pack prints one.
"""

from __future__ import annotations

import os

from . import attest, ledger, state, status

AGENT_ENV = "CLAUDECODE"  # set by Claude Code for the commands its Bash tool runs


class ReportError(Exception):
    """One line: what is wrong and how to fix it."""


def in_agent_session() -> bool:
    return os.environ.get(AGENT_ENV) == "1"


def _kept(cfg, st: dict) -> list[dict]:
    """The baseline first, then each kept commit in ledger order, with its attested val_bpb (runner rows)."""
    try:
        rows = ledger.read_rows(cfg.results_path)
    except ledger.LedgerError as exc:
        raise ReportError(str(exc)) from None
    records = ledger.read_records(cfg.sidecar_path)
    origin = status.provenance(rows, records)
    by_line = {r.get("row_line"): r for r in records if r.get("status")}
    baseline = st.get("baseline_commit") or ""
    out: dict[str, dict] = {}
    for row in rows:
        if row.status != "keep" or origin.get(row.line_no) == "hand":
            continue
        full = str(by_line[row.line_no].get("commit") or row.commit)
        entry = out.setdefault(
            full,
            {
                "commit": full[:7],
                "description": row.description,
                "baseline": full == baseline,
                "val_bpb_rows": [],
                "attested": origin.get(row.line_no) == "attested",
            },
        )
        entry["val_bpb_rows"].append(row.val_bpb)
    kept = []
    for full, entry in out.items():
        vals = entry.pop("val_bpb_rows")
        entry["val_bpb"] = sum(vals) / len(vals)
        path = attest.artifact_path(cfg, full)
        entry["artifact"] = str(path.relative_to(cfg.root)) if path.is_file() else None
        entry["artifact_bytes"] = path.stat().st_size if path.is_file() else 0
        entry["full_commit"] = full
        kept.append(entry)
    kept.sort(key=lambda e: not e["baseline"])  # the baseline first, then ledger order
    return kept


def collect(cfg, with_test: bool | None = None) -> dict:
    """The report as data. with_test=None: score the test split unless running inside the agent."""
    st, err = state.read(cfg)
    if err:
        raise ReportError(err)
    if st is None:
        raise ReportError(f"not set up: nothing to report (start a night with `{status.CLI} setup`)")
    info = status.collect(cfg)
    withheld = None
    if with_test is None:
        with_test = not in_agent_session()
        if not with_test:
            withheld = "test figures are for the human: run this report in your own terminal"
    kept = _kept(cfg, st)
    harness = None
    if with_test and any(e["artifact"] for e in kept):  # no saved model at all: nothing to score
        try:
            harness = attest.pristine_harness(cfg, st)
        except attest.AttestError as exc:
            raise ReportError(str(exc)) from None
    for entry in kept:
        entry["test_bpb"] = None
        entry["test_error"] = None
        if not with_test:
            continue
        if not entry["artifact"]:
            entry["test_error"] = "no saved model (a run from before attestation, or attestation off)"
            continue
        try:
            result = attest.score(
                cfg,
                harness[0],
                harness[1],
                cfg.root / entry["artifact"],
                split="test",
                probe=False,
            )
            entry["test_bpb"] = result["bpb"]
        except attest.AttestError as exc:
            entry["test_error"] = str(exc)
    base = next((e for e in kept if e["baseline"]), None)
    best = min((e for e in kept if not e["baseline"]), key=lambda e: e["val_bpb"], default=None)
    headline = None
    if base and best:
        headline = {
            "baseline": base["commit"],
            "best": best["commit"],
            "val_gain": best["val_bpb"] - base["val_bpb"],
            "test_gain": (
                best["test_bpb"] - base["test_bpb"]
                if best.get("test_bpb") is not None and base.get("test_bpb") is not None
                else None
            ),
        }
    for entry in kept:
        entry.pop("full_commit", None)
    return {
        "tag": st.get("tag"),
        "experiments": info["experiments"],
        "counts": info["counts"],
        "hand_rows": info["hand_rows"],
        "kept": kept,
        "headline": headline,
        "test_scored": bool(with_test),
        "test_withheld": withheld,
        "artifact_bytes": sum(e["artifact_bytes"] for e in kept),
    }


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.6f}"


def format_text(rep: dict) -> str:
    c = rep["counts"]
    lines = [
        f"report: tag {rep['tag']} | {rep['experiments']} experiments "
        f"(keep {c['keep']}, discard {c['discard']}, crash {c['crash']})"
    ]
    head = rep["headline"]
    if head:
        test = f" | test {head['test_gain']:+.6f}" if head["test_gain"] is not None else ""
        lines.append(
            f"headline: {head['baseline']} -> {head['best']}: val {head['val_gain']:+.6f}{test}"
            + ("  (test: the held-out split no keep decision saw)" if test else "")
        )
    if rep["test_withheld"]:
        lines.append(f"test: withheld ({rep['test_withheld']})")
    lines.append("commit\tval_bpb\ttest_bpb\tdescription")
    for e in rep["kept"]:
        mark = "" if e["attested"] else "  [unattested]"
        test = _fmt(e["test_bpb"]) if rep["test_scored"] else "withheld"
        if e.get("test_error"):
            test = f"- ({e['test_error']})"
        lines.append(f"{e['commit']}\t{_fmt(e['val_bpb'])}\t{test}\t{e['description']}{mark}")
    if rep["hand_rows"]:
        lines.append(f"unattested: {rep['hand_rows']} row(s) in results.tsv were written by hand, not scored")
    lines.append(f"artifacts: {len(rep['kept'])} saved models, {rep['artifact_bytes'] / 1e6:.1f} MB")
    return "\n".join(lines)
