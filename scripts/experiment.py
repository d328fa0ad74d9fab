"""experiment.py: the loop's mechanical steps, one short command each.

    uv run scripts/experiment.py setup                  # branch autoresearch/<tag>, results.tsv, state
    uv run scripts/experiment.py run                    # supervised train.py > run.log, then a verdict
    uv run scripts/experiment.py submit [REV]           # the same run as a job: returns its id at once
    uv run scripts/experiment.py wait [JOB] [--any]     # the verdicts of jobs (blocks < 600 s)
    uv run scripts/experiment.py cancel JOB             # stop a job; its verdict says so
    uv run scripts/experiment.py record keep "lr 0.04"  # one row in results.tsv; reset on discard/crash
    uv run scripts/experiment.py status                 # where the night stands
    uv run scripts/experiment.py stop [--resume]        # the human ends the night gracefully
    uv run scripts/experiment.py plot                   # progress.png
    uv run scripts/experiment.py report                 # the morning: val and held-out test, + report.html
    uv run scripts/experiment.py finalize               # branch <tag>-final: one commit per kept idea

Thin CLI: the logic lives in .claude/lib/autoresearch (runner, ledger, status, plot).
Errors are one line on stderr with exit code 1; every subcommand takes --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".claude" / "lib"))

from autoresearch import config  # noqa: E402

DESCRIPTION = __doc__.rsplit("\n\n", 1)[0]
EX = "  uv run scripts/experiment.py"

HELP = {
    "setup": (
        """Start a night: create branch autoresearch/<tag>, check the data cache (prepare.py --check),
create results.tsv (header only, git-ignored), record the protected files' sha256, install a
pre-commit hook, and write .autoresearch/state.json. It never prompts.
It does NOT run the baseline (every command must finish inside 10 minutes): after setup, `run`
the unmodified baseline --baseline-repeats times (the verdict counts them), then record it.""",
        f"""examples:
{EX} setup                 # tag from today's date, e.g. nov25 (nov25b if taken)
{EX} setup --tag nov25-gpu0 --baseline-repeats 3
{EX} setup --json""",
    ),
    "run": (
        """Run train.py once, supervised: all output to run.log (never the terminal), its own process
group, a hard wall-clock limit (hard_timeout_seconds) then SIGTERM, grace, SIGKILL to the whole
group; early stop on a NaN/inf/exploding loss. Refuses to run when a protected or guard file
changed since setup, and stops a run that writes one (outcome `tampered`). Then it scores the
exported model itself with the pristine harness: the recorded val_bpb is that attested value,
train.py's printed one is only compared with it. Prints a short verdict: the outcome
(ok|mismatch|leak|tampered|crash|oom|timeout|diverged|metric-missing), both val_bpb figures, peak
memory, the delta vs the best and the noise threshold, a suggested decision
(keep|discard|rerun|crash) and the next command.
Exit code 0 when the run finished ok, 1 otherwise. Give the Bash call a 600000 ms timeout.""",
        f"""examples:
  git add train.py && git commit -m "lr 0.04" && {EX.strip()} run
{EX} run --json""",
    ),
    "submit": (
        """Start the run of a commit (default HEAD) as a job and return its id at once. A supervisor process
owns the job (detached: its own session, no terminal), so a killed CLI or Bash call never loses it; its
verdict lands in .autoresearch/jobs/<id>.json. `run` is `submit` + `wait`. Inside Claude Code's sandbox
a job lives only as long as the Bash call that started it: there, submit and wait in one call.

With one worker a job of HEAD runs in the checkout and leaves the state as `run` does. With
[tool.autoresearch.jobs] workers = N (N > 1, or "auto": one per GPU), or for a commit that is not
HEAD, the job runs in its own git worktree at its commit, once one of N slots is free, pinned to one
GPU or to an equal share of the CPU cores; record it with `record --job ID`. After submitting HEAD
in such a wave, the checkout returns to the best, so the next idea starts off it (the submitted
commit stays reachable under refs/autoresearch/<tag>/).

--hold starts nothing yet: the next `wait` starts every held job and waits for them, in that one
call. Inside Claude Code's sandbox that is how a wave runs: hold each candidate, then one `wait`.""",
        f"""examples:
{EX} submit
{EX} submit 3f2a1bc         # remeasure a commit (a wave's winner, or the best)
{EX} submit --hold          # in the sandbox: hold each candidate, then one `wait` runs them
{EX} wait 20261201T031500-a1b2c3d-9f3e""",
    ),
    "wait": (
        """Wait for jobs and print their verdicts; --any returns when the first one is done. Without ids it
waits for every job in flight and every finished job not recorded yet (else the latest job), so
`wait --any` then `record --job` is the loop of a wave. It returns within 585 s whatever happens (the
Bash tool cuts calls at 600 s) and says which jobs are still running; a job whose supervisor stopped
beating is reported as such.
Exit code 0 when every job it waited for finished ok.""",
        f"""examples:
{EX} wait
{EX} wait JOB1 JOB2 --any --json""",
    ),
    "cancel": (
        """Stop a job: its supervisor ends train.py's process group (SIGTERM, grace, SIGKILL) and writes a
verdict `timeout` that says it was cancelled; record it as crash like any other.""",
        f"""examples:
{EX} cancel 20261201T031500-a1b2c3d-9f3e""",
    ),
    "record": (
        """Record the last run: append ONE row to results.tsv (locked, before anything else), a JSON
line with the run's facts to .autoresearch/runs.jsonl, then for discard/crash `git reset --hard`
to the base commit recorded when the run started (only when HEAD is still the run's commit).
Untracked files survive. keep is refused for failed or non-comparable runs; discard is refused
for failed runs (use crash). Exactly once: a record killed part-way is completed by the next command.

--job ID records a job that ran in its own worktree. Its keep moves the checkout to the job's
commit (a fast-forward from the best it was based on); it is refused when the best has moved since,
and the idea is then a near-miss to re-base. Its discard or crash leaves the checkout alone.""",
        f"""examples:
{EX} record keep "baseline"
{EX} record discard "warmdown 0.5 instead of 0.75"
{EX} record crash "depth 16: OOM"
{EX} record --job 20261201T031500-a1b2c3d-9f3e keep "rope base 20000"
""",
    ),
    "status": (
        """Where the night stands: tag, baseline and best val_bpb, keep/discard/crash counts,
experiments per hour, the last rows, the in-flight run and the jobs, the noise threshold and the next
step. One `key: value` line per fact (grep-friendly).

At a terminal (stdout a TTY) it leads with the report page's headline: baseline -> best on val, the
night's counts, pace, wall time and hardware. --headline does so anywhere and also scores the held-out
test split for the baseline and the best, like `report` (seconds; inside Claude Code the test figures
are withheld); with --json the result then has a `headline` key.""",
        f"""examples:
{EX} status
{EX} status | grep '^next:'
{EX} status --headline              # in the morning: val and held-out test, baseline -> best
{EX} status --json""",
    ),
    "stop": (
        """For the human, in their own terminal: end the night gracefully. Writes .autoresearch/STOP with a
token also kept in the keeper's vault outside the project, where the agent's shell cannot write: the
Stop hook then lets the agent stop once the step in hand is recorded. A STOP file without that token
(the agent's, or a hand-made `touch`) is taken away by the keeper, and the human's, if a tool call
removes it, is put back. --resume lowers it again. Refused inside Claude Code.""",
        f"""examples:
{EX} stop
{EX} stop --resume""",
    ),
    "report": (
        """The morning report, for the human: the baseline and every kept commit with its attested val_bpb
and its score on the held-out test split (scored now from the saved model; no keep decision ever
saw it), and the night's gain on both. Inside Claude Code (CLAUDECODE=1) the test figures are
withheld, so the agent can never select on them: run it in your own terminal.

It also writes report.html (in the project root, git-ignored; --html PATH elsewhere, --no-html not
at all), written atomically: one self-contained file, no network, that opens from file://. It has
the headline (baseline -> best on val and on the test split, counts, experiments per hour, hardware,
wall time), the progress chart, the whole ledger (click a column to sort, filter by status or text,
click a row for its details: outcome, attested and reported val_bpb, steps, tokens, device, seconds,
its diff of train.py against its parent, a crash's last log lines) and the night's memory entries.
The page follows the same rule: written inside Claude Code it holds no test figure.""",
        f"""examples:
{EX} report                         # the text, and report.html in the project root
  xdg-open report.html                             # macOS: open report.html
{EX} report --html ~/nights/nov25.html
{EX} report --no-html --json        # the data only, no page""",
    ),
    "finalize": (
        """Build the branch autoresearch/<tag>-final for review: on the baseline commit, one commit per kept
idea in the order they were kept, each carrying that keep's tree (so several commits of one idea become
one) and a message with its description and its attested val_bpb delta against the previous best. Its
net diff is exactly baseline -> last keep. It uses git plumbing only: the run branch, HEAD, the index
and the working tree are untouched, and it refuses when the branch already exists. Every recorded run,
discards and crashes included, also stays reachable under refs/autoresearch/<tag>/.""",
        f"""examples:
{EX} finalize
  git log --stat autoresearch/nov25-final
{EX} finalize --branch review/nov25 --json""",
    ),
    "plot": (
        """Draw progress.png from results.tsv: experiment number vs val_bpb, discards grey, keeps green,
crashes as red crosses at the bottom, the running best as a step line, keeps annotated with
their description, and the noise band around the running best.""",
        f"""examples:
{EX} plot
{EX} plot --out night.png --json""",
    ),
}


class CliError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 1 (never 2, never a traceback)."""

    def error(self, message):
        raise CliError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="experiment.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `uv run scripts/experiment.py SUBCOMMAND --help` for details and examples.",
    )
    sub = parser.add_subparsers(
        dest="command",
        metavar="{setup,run,submit,wait,cancel,record,status,stop,plot,report,finalize}",
        parser_class=Parser,
    )

    def add(name, summary_line):
        text, examples = HELP[name]
        p = sub.add_parser(
            name,
            help=summary_line,
            description=text,
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        return p

    p = add("setup", "start a night: branch, results.tsv, hashes, state")
    p.add_argument("--tag", help="run tag (default: today's date like nov25, with a suffix when taken)")
    p.add_argument(
        "--baseline-repeats", type=int, help="baseline runs that measure the noise (default from config)"
    )
    add("run", "run train.py once under supervision and print a verdict")
    p = add("submit", "start the run of a commit as a job; print its id at once")
    p.add_argument("rev", nargs="?", default="HEAD", help="the commit to run (default HEAD)")
    p.add_argument("--hold", action="store_true", help="start it with the next `wait` (a sandboxed wave)")
    p = add("wait", "wait for jobs and print their verdicts (returns within 585 s)")
    p.add_argument("job", nargs="*", help="job ids (default: those in flight or unrecorded, else the latest)")
    p.add_argument("--any", action="store_true", help="return when the first of them is done")
    p = add("cancel", "stop a job")
    p.add_argument("job", help="the job id (`status` shows it)")
    p = sub.add_parser("_supervise", help=argparse.SUPPRESS)  # what `submit` starts, never typed by hand
    p.add_argument("job")
    p = add("record", "append the last run's row; reset on discard/crash")
    p.add_argument("status", help="keep | discard | crash")
    p.add_argument("description", help="a few words on what the run tried (one line, at most 200 characters)")
    p.add_argument("--job", help="record this job, which ran in its own worktree (`wait` names it)")
    p = add("status", "where the night stands, and the next step")
    p.add_argument(
        "--headline", action="store_true", help="lead with the report page's headline, held-out test scored"
    )
    p = add("stop", "the human's graceful stop of the night (--resume to go on)")
    p.add_argument("--resume", action="store_true", help="lower the stop: the loop goes on")
    p = add("report", "the morning report: val and held-out test for each keep, and report.html")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--html", metavar="PATH", help="write the page here (default: ROOT/report.html)")
    where.add_argument("--no-html", action="store_true", help="print the report only; write no page")
    p = add("finalize", "branch <tag>-final: one commit per kept idea, each with its delta")
    p.add_argument("--branch", help="the branch to create (default autoresearch/<tag>-final)")
    p = add("plot", "draw progress.png")
    p.add_argument("--out", help="output path (default progress.png in the project root)")
    return parser


class _LiveLine:
    """One tqdm line on a terminal while a run is in flight: step, loss, elapsed and ETA."""

    def __init__(self, cfg):
        import shutil

        from tqdm import tqdm

        self.cfg = cfg
        shape = "{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}"
        size = shutil.get_terminal_size()  # a terminal reporting 0 x 0 gets 80 x 24 (tqdm would draw nothing)
        self.bar = tqdm(
            total=100.0, file=sys.stderr, leave=False, ncols=size.columns, nrows=size.lines, bar_format=shape
        )
        self.bar.set_description_str("training")

    def update(self) -> None:
        from autoresearch import state, summary

        flight = (state.load(self.cfg) or {}).get("in_flight") or {}
        if not flight.get("log"):
            return
        try:
            with open(self.cfg.root / flight["log"], "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 8192))
                got = summary.progress(fh.read().decode("utf-8", "replace"))
        except OSError:
            return
        if got:
            step, percent, loss = got
            self.bar.n = min(100.0, percent)
            self.bar.set_postfix_str(f"step {step}" + (f" loss {loss:.4f}" if loss is not None else ""))

    def close(self) -> None:
        self.bar.close()


def _waited(cfg, job_ids, any_of: bool, single: bool):
    """(JSON result, text, exit code) for `wait`, and for `run` (`single`: its one verdict, as before)."""
    import signal

    from autoresearch import dispatch, jobs, runner

    def detach(signum, frame):  # the CLI may go; the job goes on under its supervisor
        going = job_ids or ["<latest>"]
        raise CliError(f"stopped waiting; the job goes on: `{runner.CLI} wait {' '.join(going)}`")

    signal.signal(signal.SIGTERM, detach)
    live = _LiveLine(cfg) if sys.stderr.isatty() else None  # a person at a terminal; never the agent's Bash
    try:
        done, going = jobs.wait(cfg, job_ids, any_of=any_of, on_poll=live.update if live else None)
    finally:
        if live:
            live.close()
    if single and done:
        job = done[0]
        if job.error:
            raise CliError(job.error)
        verdict = dict(job.verdict, job=job.id)
        return verdict, runner.format_verdict(verdict), 0 if verdict["outcome"] == "ok" else 1
    parts = []
    for job in done:
        body = runner.format_verdict(job.verdict) if job.verdict else f"error: {job.error}"
        parts.append(f"job {job.id}: done\n{body}")
    for job in going:
        if job.state == "held":
            parts.append(f"job {job.id}: held: {dispatch.HOOKS_START_NOTE}; then `{runner.CLI} wait`")
        else:
            parts.append(f"job {job.id}: still running: `{runner.CLI} wait {job.id}`")
    running = [j for j in going if j.state != "held"]
    ok = not running and all(j.verdict and j.verdict.get("outcome") == "ok" for j in done)
    result = {"done": [j.to_dict() for j in done], "running": [j.to_dict() for j in going]}
    return result, "\n".join(parts), 0 if ok else 1


def main(argv=None) -> int:
    want_json = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            raise CliError("missing subcommand: setup, run, record, status, plot or report (see --help)")
        cfg = config.load()
        from autoresearch import dispatch, jobs, runner, status

        code = 0
        if args.command in (
            "setup",
            "status",
            "report",
            "plot",
            "finalize",
        ):  # `run` and `record` do it themselves
            note = runner.finish_interrupted_record(cfg)
            if note:
                print(f"note: {note}", file=sys.stderr)
        if args.command == "setup":
            result = runner.setup(cfg, tag=args.tag, baseline_repeats=args.baseline_repeats)
            text = runner.format_setup(result)
        elif args.command == "_supervise":
            jobs.supervise(cfg, args.job)
            return 0
        elif args.command == "run":
            job = jobs.submit(cfg)
            result, text, code = _waited(cfg, [job.id], any_of=False, single=True)
        elif args.command == "submit":
            job = jobs.submit(cfg, args.rev, hold=args.hold)
            moved = jobs.back_to_best(cfg, job)
            from autoresearch.report import in_agent_session

            if not args.hold and job.state != "held" and in_agent_session():
                print(
                    "note: inside Claude Code's sandbox a job lives only as long as this Bash call: "
                    f"`{runner.CLI} wait {job.id}` in the same call, or use `submit --hold`",
                    file=sys.stderr,
                )
            result = job.to_dict()
            if moved and args.json:
                print(f"note: git: {moved}", file=sys.stderr)
            where = f"its own worktree, {job.worktree}" if job.worktree else "the checkout"
            word = "held (the next `wait` starts it)" if job.state == "held" else "submitted"
            if job.state == "held" and jobs.hooks_start_held(cfg):
                word = f"held ({dispatch.HOOKS_START_NOTE})"
            text = f"{word}: job {job.id} ({job.commit[:7]}, runs in {where})"
            text += f"\ngit: {moved}" if moved else ""
            text += f"\nnext: {runner.CLI} wait" + ("" if job.state == "held" else f" {job.id}")
        elif args.command == "wait":
            result, text, code = _waited(cfg, args.job or None, any_of=args.any, single=False)
        elif args.command == "cancel":
            job = jobs.cancel(cfg, args.job)
            result = job.to_dict()
            text = f"cancelled: job {job.id}\n" + (
                runner.format_verdict(job.verdict)
                if job.verdict
                else f"error: {job.error or 'still stopping'}"
            )
        elif args.command == "record":
            result = runner.record(cfg, args.status, args.description, job_id=args.job)
            text = runner.format_record(result)
        elif args.command == "status":
            result = status.status_dict(cfg)
            text = status.status_text(cfg, result)
            if result["set_up"] and (args.headline or (sys.stdout.isatty() and not args.json)):
                from autoresearch import report, report_page

                try:  # --headline scores the held-out split like `report` (seconds; never inside Claude Code)
                    rep = report.collect(cfg) if args.headline and not report.in_agent_session() else None
                    page = report_page.gather(cfg, rep=rep)
                except report.ReportError as exc:  # status itself still answers
                    page, text = None, f"headline: unavailable ({exc})\n{text}"
                if page:
                    shown = ("headline", "per_hour", "wall_seconds", "hardware", "test_note")
                    result["headline"] = {k: page[k] for k in shown}
                    text = "\n".join(report_page.headline_lines(page)) + "\n" + text
        elif args.command == "stop":
            from autoresearch import keeper
            from autoresearch.report import in_agent_session

            if in_agent_session():
                raise CliError("only the human stops the night: run `stop` in your own terminal")
            sentinel = f"{cfg.state_dir}/{cfg.stop_sentinel.name}"
            if args.resume:
                was = keeper.lower_stop(cfg)
                result = {"stop_requested": False, "was_requested": was}
                text = f"resumed: {sentinel} lowered" if was else "no stop was raised: the night goes on"
            else:
                keeper.raise_stop(cfg)
                result = {"stop_requested": True, "sentinel": sentinel}
                text = (
                    f"stop raised: {sentinel}; the agent finishes and records the step in hand, then stops "
                    f"(`{runner.CLI} stop --resume` to go on)"
                )
        elif args.command == "report":
            from autoresearch import report

            result = report.collect(cfg)
            text = report.format_text(result)
            if args.no_html:
                pass
            elif report.in_agent_session():  # the page is the human's: it carries held-out figures
                text += "\npage: not written inside Claude Code; run `report` in your own terminal for it"
            else:
                from autoresearch import report_page

                page = report_page.write(cfg, path=args.html, rep=result)
                result["page"] = page
                text += "\n" + report_page.format_result(page)
        elif args.command == "finalize":
            from autoresearch import finalize

            done = finalize.finalize(cfg, args.branch)
            result, text = done.to_dict(), finalize.format_result(done)
        else:
            from autoresearch import plot

            result = plot.plot(cfg, out=args.out)
            text = plot.format_result(result)
        print(json.dumps(result, indent=2, default=str) if args.json else text)
        return code
    except SystemExit as exc:  # --help exits 0 through argparse
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # `... | head`: the reader left; not an error worth a message
        sys.stdout = open(os.devnull, "w")  # keeps the interpreter's final flush quiet
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        known = type(exc).__name__ in (
            "CliError",
            "RunnerError",
            "LedgerError",
            "GitError",
            "ConfigError",
            "ReportError",
            "JobError",
            "FinalizeError",
        )
        message = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if want_json:
            print(json.dumps({"error": message}))
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
