#!/usr/bin/env python3
"""SessionStart hook: a thin entry point for autoresearch.loop.session_start_hook (docs/loop-hooks.md).

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/session_start.py`. Stdlib only. Always exits 0; any
internal error gives the documented safe outcome: a one-line context.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))


def main() -> int:
    try:
        from autoresearch import loop

        out = loop.session_start_hook(sys.stdin.buffer)
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        sys.stderr.write(f"session_start hook: {exc.__class__.__name__}: {exc}\n"[:500])
        out = FALLBACK
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return 0


FALLBACK = (
    '{"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": '
    '"autoresearch-pack: loop context unavailable (hook error); see uv run scripts/experiment.py status"}}'
)

if __name__ == "__main__":
    sys.exit(main())
