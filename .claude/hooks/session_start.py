#!/usr/bin/env python3
"""SessionStart hook: a thin entry point for autoresearch.loop.session_start_hook (docs/loop-hooks.md).

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/session_start.py`. Stdlib only. Always exits 0; any
internal error gives the documented safe outcome: a one-line context. Under a python3 older than
autoresearch.interpreter.MIN_VERSION the library is not trusted: the context says so and names the fix,
so the model can tell the user why every tool call is denied.
This file parses on any Python 3 (no f-strings) so that the version check can run.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))


def note(text):
    sys.stderr.write(("session_start hook: " + text + "\n")[:500])


def answer():
    from autoresearch import interpreter

    too_old = interpreter.too_old()
    if too_old:
        return context("autoresearch-pack: " + too_old + " Until then the guard denies every tool call.")
    from autoresearch import loop

    return loop.session_start_hook(sys.stdin.buffer)


def main():
    try:
        out = answer()
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        note(exc.__class__.__name__ + ": " + str(exc))
        out = context(FALLBACK)
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return 0


FALLBACK = "autoresearch-pack: loop context unavailable (hook error); see uv run scripts/experiment.py status"


def context(text):
    import json

    return json.dumps({"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}})


if __name__ == "__main__":
    sys.exit(main())
