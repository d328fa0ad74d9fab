#!/usr/bin/env python3
"""PostToolUse / PostToolUseFailure hook: a thin entry point for autoresearch.keeper (docs/guards.md,
"Who owns the night's data").

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/post_tool_use.py` with Claude Code's JSON on stdin,
after every tool call that can write. Stdlib only. Always exits 0 and never blocks: the call already ran.
Outcomes:
  nothing kept changed (stat)  -> no output (the fast path)
  rows / entries appended      -> journaled, no output
  kept data damaged            -> restored; stdout {"hookSpecificOutput": {..., "additionalContext": "<one
                                  sentence: what was restored, and the allowed way>"}}
  a problem (unreadable journal, internal error) -> one line, in the context and on stderr
  python3 older than 3.11      -> nothing kept, one note on stderr (PreToolUse denies every call then)
Then, on a Ray night, it starts held jobs outside the sandbox (autoresearch.dispatch).
`--accept` (a human, outside Claude Code, after fixing a row by hand): journal the files as they are now.
This file parses on any Python 3 (no f-strings) so that the version check can run.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, ".claude", "lib"))


def note(text):
    sys.stderr.write(("post_tool_use hook: " + text + "\n")[:1000])


def answer(raw):
    from autoresearch import interpreter

    too_old = interpreter.too_old()
    if too_old:
        note(too_old)
        return ""
    from autoresearch import keeper

    root = os.environ.get("CLAUDE_PROJECT_DIR") or None
    out = keeper.post_tool_use_hook(raw, root)
    if out:
        note(out[:900])
    start_held_jobs(root or ROOT)
    return out


def start_held_jobs(root):
    """A Ray night's held jobs start here, outside the sandbox (autoresearch.dispatch); problems on stderr
    and in the job's record, which the next `wait` prints."""
    from autoresearch import dispatch

    try:
        problem = dispatch.hook_start(root)
    except Exception as exc:  # noqa: BLE001 - the keeper's answer above must still go out
        problem = "held jobs not started: " + exc.__class__.__name__ + ": " + str(exc)
    if problem:
        note(problem)


def accept():
    from autoresearch import interpreter

    too_old = interpreter.too_old()
    if too_old:
        print(too_old)
        return 1
    from autoresearch import keeper

    try:
        accepted = keeper.accept(os.environ.get("CLAUDE_PROJECT_DIR") or ROOT)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print("keeper: cannot accept: " + exc.__class__.__name__ + ": " + str(exc))
        return 1
    print("keeper: journaled as they are now: " + (", ".join(accepted) or "nothing had changed"))
    return 0


def main(argv):
    if argv[1:] == [ACCEPT_FLAG]:
        return accept()
    if argv[1:]:
        print(__doc__)
        return 0
    try:
        raw = sys.stdin.buffer.read()  # read even when unused: the client must not hit a closed pipe
        out = answer(raw)
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        note(exc.__class__.__name__ + ": " + str(exc))
        out = ""
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return 0


ACCEPT_FLAG = "--accept"  # a human's hand edit becomes the journal (autoresearch.keeper.accept)

if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except BaseException:  # noqa: BLE001
        code = 0
    sys.exit(code)
