"""Search and write the experiment memory: learnings, issues and decisions.

Run it as:  uv run .claude/lib/memory/memory_search.py COMMAND ...   (python3 works too)

The memory is three markdown files in .claude/context/memory/: learnings.md (what helped or hurt, with
the measured numbers), issues.md (crash causes and workarounds) and decisions.md (choices about the
setup). They are untracked and gitignored, so `git reset --hard` and `git clean -fd` never touch them.
Write them with this CLI: Claude Code refuses Write/Edit into .claude/ in its default permission mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import entries as fmt
from . import search as engine
from . import store

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # <root>/.claude/lib/memory/cli.py

PROG = "memory_search.py"
COMMANDS = ("search", "add", "list", "show", "digest", "stats", "reindex")
VALUE_OPTIONS = {
    "--dir",
    "--limit",
    "--kind",
    "--title",
    "--tags",
    "--text",
    "--from-result",
    "--results",
    "--max-chars",
    "--status",
    "--evidence",
    "--supersedes",
}
LIST_LIMIT = 30
EXAMPLES = f"""
examples:
  {PROG} "batch size oom"                        ranked search (same as: search "batch size oom")
  {PROG} search warmup --kind learning --explain  why each result ranked where it did
  {PROG} add --kind learning --title "Halving batch size helps at 300 s" \\
      --tags batch-size,throughput --from-result a1b2c3d --text "More steps beat bigger batches."
  {PROG} add --kind issue --title "OOM at depth 12 with batch 64" --tags oom \\
      --text "Symptom: CUDA OOM at step 1. Workaround: batch 32."
  {PROG} add --kind decision --title "Compare runs at a fixed 300 s budget" --supersedes D-0001
  {PROG} list --kind issue          newest first
  {PROG} show L-0007                the whole entry
  {PROG} digest --max-chars 2000    the summary the SessionStart hook prints
  {PROG} stats --json               counts, unreadable lines, the index

Every command takes --json. Errors are one line on stderr with exit code 1.
--from-result COMMIT copies commit, val_bpb, status and delta (vs the last keep before it) from
results.tsv, so the numbers in memory are measured, not recalled. An entry written without it is
marked `evidence: hypothesis` (pass --evidence measured to say otherwise).
"""


class CliError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 1, never argparse's usage dump and exit 2
        raise CliError(f"{message}; see {self.prog} --help")


def build_parser(only: str | None = None) -> Parser:
    """The parser; with `only`, just that command's subparser (start-up time matters for every call)."""
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument(
        "--dir", help="the memory folder (default: memory_dir from pyproject's [tool.autoresearch])"
    )
    parser = Parser(
        prog=PROG,
        description=__doc__.split("\n", 1)[1].strip(),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help_text: str):
        if only and name != only:
            return argparse.ArgumentParser(add_help=False)  # a throwaway: keeps the code below linear
        return sub.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command("search", "ranked search: every word must match, else any word; title and tags weigh most")
    p.add_argument("query", nargs="+", help="words to look for (quotes and operators are treated as text)")
    p.add_argument("--kind", choices=tuple(fmt.KINDS), help="only this kind")
    p.add_argument("--limit", type=int, default=5, help="results to show (default 5)")
    p.add_argument("--explain", action="store_true", help="show how each score was computed")

    p = command("add", "append an entry (exact duplicates return the existing id)")
    p.add_argument("--kind", required=True, choices=tuple(fmt.KINDS))
    p.add_argument("--title", required=True, help="one line, at most 200 characters")
    p.add_argument("--tags", default="", help="comma-separated, e.g. batch-size,throughput")
    p.add_argument("--text", default="", help="free text (use - to read it from stdin)")
    p.add_argument(
        "--from-result", metavar="COMMIT", help="fill commit, val_bpb, status, delta from results.tsv"
    )
    p.add_argument("--results", help="results.tsv to read (default: results_file from the config)")
    p.add_argument(
        "--status", help="learning keep|discard|crash, issue open|workaround|resolved, decision accepted"
    )
    p.add_argument(
        "--evidence",
        choices=fmt.EVIDENCE_VALUES,
        help="default: measured with --from-result, else hypothesis",
    )
    p.add_argument("--supersedes", metavar="ID", help="the entry this one replaces (it is then ranked lower)")
    p.add_argument("--pin", action="store_true", help="always show it in the digest")
    p.add_argument("--force", action="store_true", help="write even when a near-duplicate exists")

    p = command("list", "entries, newest first")
    p.add_argument("--kind", choices=tuple(fmt.KINDS))
    p.add_argument(
        "--limit", type=int, default=LIST_LIMIT, help=f"at most this many (default {LIST_LIMIT}, 0 = all)"
    )

    p = command("show", "the full text of entries by id")
    p.add_argument("ids", nargs="+", metavar="ID")

    p = command("digest", "a compact newest-first summary (what SessionStart injects)")
    p.add_argument("--max-chars", type=int, default=store.DIGEST_MAX_CHARS)

    command("stats", "counts, unreadable parts of the files, the index")
    command("reindex", "rebuild the search cache from the markdown files")
    return parser


def normalize_argv(argv: list[str]) -> list[str]:
    """A bare query means `search`; a command given after options is moved to the front."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            break
        if token.startswith("-"):
            i += 2 if token in VALUE_OPTIONS else 1
            continue
        if token in COMMANDS:
            return [token] + argv[:i] + argv[i + 1 :]
        break
    if argv and any(t in ("-h", "--help") for t in argv[:1]):
        return argv
    return ["search"] + argv


# --- helpers ---


def memory_dir(args) -> Path:
    if args.dir:
        return Path(args.dir)
    from autoresearch import config

    return config.load(PROJECT_ROOT).memory_path


def results_fields(args) -> tuple[dict, str]:
    """commit/val_bpb/status/delta from the results.tsv row of --from-result, and its description."""
    from autoresearch import ledger

    if args.results:
        path = Path(args.results)
    else:
        from autoresearch import config

        path = config.load(PROJECT_ROOT).results_path
    wanted = args.from_result.strip().lower()
    if len(wanted) < 4:
        raise CliError(f"--from-result {args.from_result!r}: give at least 4 characters of the commit hash")
    rows = ledger.read_rows(path)
    matching = [r for r in rows if r.commit.startswith(wanted[:7]) or wanted.startswith(r.commit)]
    if not matching:
        raise CliError(
            f"commit {wanted[:7]} is not in {path.name} ({len(rows)} rows); record the run first "
            "(uv run scripts/experiment.py record ...) or check the hash with `status`"
        )
    row = matching[-1]
    fields = {"commit": row.commit, "status": row.status, "evidence": "measured"}
    if row.status != "crash":
        fields["val_bpb"] = f"{row.val_bpb:.6f}"
        fields["memory_gb"] = f"{row.memory_gb:.1f}"
        earlier = [r for r in rows if r.line_no < row.line_no and r.status == "keep" and r.val_bpb > 0]
        earlier = [r for r in earlier if r.commit != row.commit]
        if earlier:
            base = earlier[-1]
            fields["baseline_bpb"] = f"{base.val_bpb:.6f}"
            fields["delta"] = f"{row.val_bpb - base.val_bpb:+.6f}"
    return fields, row.description


def facts(item) -> str:
    """`[keep, Δ-0.0041, a1b2c3d]` for an Entry or a Hit."""
    if isinstance(item, fmt.Entry):
        status, delta, val, commit, evidence = (
            item.status,
            item.number("delta"),
            item.number("val_bpb"),
            item.commit,
            item.evidence,
        )
    else:
        status, delta, val, commit, evidence = (
            item.status,
            item.delta,
            item.val_bpb,
            item.commit,
            item.evidence,
        )
    parts = [status] if status else []
    if delta is not None:
        parts.append(f"Δ{delta:+.4f}")
    elif val is not None:
        parts.append(f"val_bpb {val:.4f}")
    if commit:
        parts.append(commit[:7])
    if evidence == "hypothesis":
        parts.append("hypothesis")
    return f"  [{', '.join(parts)}]" if parts else ""


def emit(args, data, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif text:
        print(text)


# --- commands ---


def cmd_search(args) -> int:
    query = " ".join(args.query)
    result = engine.search(memory_dir(args), query, limit=args.limit, kind=args.kind)
    data = {
        "query": query,
        "terms": result.terms,
        "backend": result.backend,
        "matched_all_terms": result.matched_all,
        "results": [h.to_dict(explain=args.explain) for h in result.hits],
    }
    if not result.hits:
        searched = ", ".join(result.terms)
        text = f'no entries match "{query}" (searched for: {searched}); try other words, or `{PROG} list`'
        emit(args, data, text)
        return 0
    lines = [
        f'{len(result.hits)} results for "{query}" ({result.matched_all} match every term; {result.backend})'
    ]
    for n, hit in enumerate(result.hits, 1):
        lines.append(f"{n}. {hit.id}  {hit.date or '----------'}  {hit.title}{facts(hit)}")
        where = f"{hit.file}:{hit.line}"
        lines.append(f"   {'tags: ' + ', '.join(hit.tags) + ' | ' if hit.tags else ''}{where}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
        if args.explain:
            e = hit.explain
            age = f"{e['age_days']:.0f} d" if e["age_days"] is not None else "no date"
            lines.append(
                f"   why: {e['tier']}; bm25 {e['bm25']:.3f} -> relevance {e['relevance']:.3f}"
                f" x recency {e['recency']:.3f} ({age}) x status {e['status_weight']}"
                f"{' (superseded)' if hit.superseded else ''} x evidence {e['evidence_weight']}"
                f" + pinned {e['pinned_bonus']} = {e['final']:.3f}"
            )
    emit(args, data, "\n".join(lines))
    return 0


def cmd_add(args) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    fields: dict = {}
    if args.from_result:
        fields, description = results_fields(args)
        if not text.strip():
            text = f"Run: {description}"
    if args.status:
        fields["status"] = args.status.strip().lower()
    if args.evidence:
        fields["evidence"] = args.evidence
    elif args.kind == "learning" and "evidence" not in fields:
        fields["evidence"] = "hypothesis"
    if args.supersedes:
        fields["supersedes"] = args.supersedes.strip().upper()
    if args.pin:
        fields["pinned"] = "true"
    tags = [t for t in args.tags.split(",")]
    folder = memory_dir(args)
    try:
        result = store.add(
            folder, args.kind, args.title, text=text, tags=tags, fields=fields, force=args.force
        )
    except store.NearDuplicate as exc:
        near = [{"id": e.id, "title": e.title, "similarity": s} for e, s in exc.matches]
        if args.json:
            print(
                json.dumps(
                    {"added": False, "error": str(exc), "near_duplicates": near}, indent=2, ensure_ascii=False
                )
            )
        else:
            for e, s in exc.matches:
                print(f"similar: {e.id}  {e.title}  ({s:.0%} word overlap)")
        raise
    entry = result.entry
    data = {
        "added": result.added,
        "id": entry.id,
        "kind": entry.kind,
        "file": str(result.path),
        "line": entry.line,
        "entry": entry.to_dict(),
        "near_duplicates": [{"id": e.id, "title": e.title, "similarity": s} for e, s in result.near],
    }
    if result.added:
        text_out = f"added {entry.id} to {result.path.name}:{entry.line}{facts(entry)}"
        if result.near:
            text_out += f" (written with --force next to {', '.join(e.id for e, _ in result.near)})"
    else:
        text_out = (
            f"exists: {entry.id} has the same content ({result.path.name}:{entry.line}); nothing written"
        )
    emit(args, data, text_out)
    return 0


def cmd_list(args) -> int:
    if args.limit < 0:
        raise CliError("--limit must be 0 (all) or more")
    memory = store.load(memory_dir(args))
    chosen = [e for e in store.newest_first(memory.entries) if not args.kind or e.kind == args.kind]
    total = len(chosen)
    if args.limit:
        chosen = chosen[: args.limit]
    superseded = memory.superseded_ids()
    data = {"total": total, "entries": [dict(e.to_dict(), superseded=e.id in superseded) for e in chosen]}
    if not chosen:
        emit(
            args,
            data,
            f"no entries yet in {memory_dir(args)}; add one with `{PROG} add --kind learning --title ...`",
        )
        return 0
    lines = [
        f"{e.id}  {e.date or '----------'}  {e.title}{facts(e)}"
        + ("  (superseded)" if e.id in superseded else "")
        for e in chosen
    ]
    if total > len(chosen):
        lines.append(f"(+{total - len(chosen)} older: --limit 0 shows all)")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_show(args) -> int:
    memory = store.load(memory_dir(args))
    found = []
    for wanted in args.ids:
        entry = memory.find(wanted)
        if entry is None:
            raise CliError(f"no entry has the id {wanted!r}; `{PROG} list` shows the ids")
        found.append(entry)
    emit(
        args,
        {"entries": [e.to_dict() for e in found]},
        "\n".join(f"{e.raw.rstrip()}\n({e.file}:{e.line})\n" for e in found).rstrip(),
    )
    return 0


def cmd_digest(args) -> int:
    if args.max_chars < 1:
        raise CliError("--max-chars must be a positive number")
    started = time.perf_counter()
    text = store.digest_text(memory_dir(args), args.max_chars)
    emit(args, {"digest": text, "chars": len(text), "seconds": round(time.perf_counter() - started, 4)}, text)
    return 0


def cmd_stats(args) -> int:
    folder = memory_dir(args)
    memory = store.load(folder)
    files = []
    for kind, path in store.memory_files(folder):
        size = path.stat().st_size if path.exists() else None
        files.append(
            {
                "kind": kind,
                "file": str(path),
                "bytes": size,
                "entries": sum(e.kind == kind for e in memory.entries),
            }
        )
    index_path = folder / store.INDEX_DIR / engine.INDEX_FILE
    dated = sorted(e.date for e in memory.entries if e.date)
    data = {
        "memory_dir": str(folder),
        "entries": len(memory.entries),
        "files": files,
        "superseded": len(memory.superseded_ids()),
        "hypotheses": sum(e.evidence == "hypothesis" for e in memory.entries),
        "pinned": sum(e.pinned for e in memory.entries),
        "derived_ids": sum(e.derived_id for e in memory.entries),
        "newest_date": dated[-1] if dated else None,
        "backend": "fts5" if engine.fts5_available() else "python",
        "index": str(index_path) if index_path.exists() else None,
        "index_bytes": index_path.stat().st_size if index_path.exists() else None,
        "problems": [str(p) for p in memory.problems],
    }
    lines = [f"memory folder: {folder}"]
    for f in files:
        size = f"{f['bytes']} bytes" if f["bytes"] is not None else "missing"
        lines.append(f"  {Path(f['file']).name:<14} {f['entries']:>6} entries  {size}")
    lines.append(
        f"entries: {data['entries']} ({data['superseded']} superseded, {data['hypotheses']} hypotheses, "
        f"{data['pinned']} pinned, {data['derived_ids']} with derived ids); "
        f"newest {data['newest_date'] or '-'}"
    )
    lines.append(f"search: {data['backend']}; index {data['index'] or '(not built yet)'}")
    if memory.problems:
        lines.append(f"{len(memory.problems)} unreadable parts (kept in the files as written):")
        lines += [f"  {p}" for p in memory.problems[:20]]
        if len(memory.problems) > 20:
            lines.append(f"  ... {len(memory.problems) - 20} more (--json lists all)")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_reindex(args) -> int:
    info = engine.reindex(memory_dir(args))
    problems = [str(p) for p in info.get("problems", [])]
    data = {
        "entries": info["entries"],
        "backend": info["backend"],
        "index": info["index"],
        "seconds": round(info["seconds"], 4),
        "problems": problems,
    }
    text = f"indexed {info['entries']} entries in {info['seconds']:.3f} s ({info['backend']})"
    if problems:
        text += f"; {len(problems)} unreadable parts:\n" + "\n".join(f"  {p}" for p in problems[:20])
    emit(args, data, text)
    return 0


HANDLERS = {
    "search": cmd_search,
    "add": cmd_add,
    "list": cmd_list,
    "show": cmd_show,
    "digest": cmd_digest,
    "stats": cmd_stats,
    "reindex": cmd_reindex,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        build_parser().print_help()
        return 0
    want_json = "--json" in argv
    try:
        argv = normalize_argv(argv)
        args = build_parser(argv[0] if argv[0] in COMMANDS else None).parse_args(argv)
        return HANDLERS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more into the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail
        return 0  # as scripts/experiment.py: the reader chose to stop reading
    except Exception as exc:  # noqa: BLE001 - every failure is one line, never a traceback
        known = (CliError, store.StoreError, engine.SearchError)
        message = (
            str(exc)
            if isinstance(exc, known) or type(exc).__name__ in ("ConfigError", "LedgerError")
            else (f"unexpected {exc.__class__.__name__}: {exc}")
        )
        message = " ".join(message.split()) or exc.__class__.__name__
        if want_json and not isinstance(exc, store.NearDuplicate):
            print(json.dumps({"error": message}))
        print(f"error: {message}", file=sys.stderr)
        return 1
