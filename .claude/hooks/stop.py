#!/usr/bin/env python3
"""Stop hook: a thin entry point for autoresearch.loop.stop_hook (docs/loop-hooks.md).

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/stop.py`. Stdlib only. Always exits 0; any
internal error gives the documented safe outcome: no output (the stop is allowed). Under a python3 older than
autoresearch.interpreter.MIN_VERSION the library is not trusted: no output either, so a session whose
every tool call is denied ends instead of spinning on blocks.
This file parses on any Python 3 (no f-strings) so that the version check can run.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))


def note(text):
    sys.stderr.write(("stop hook: " + text + "\n")[:500])


def answer():
    from autoresearch import interpreter

    too_old = interpreter.too_old()
    if too_old:
        note(too_old)
        return ""
    from autoresearch import loop

    return loop.stop_hook(sys.stdin.buffer)


def main():
    try:
        out = answer()
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        note(exc.__class__.__name__ + ": " + str(exc))
        out = FALLBACK
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return 0


FALLBACK = ""

if __name__ == "__main__":
    sys.exit(main())
