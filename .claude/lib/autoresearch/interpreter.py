"""The oldest Python the hooks trust, checked before anything else is imported (docs/guards.md).

Under an older `python3` the library does not import (3.8), or imports and judges wrongly (3.9: some
shell shapes raise; <= 3.10: no tomllib, so `[tool.autoresearch]` is silently replaced by defaults).
So every hook entry point calls `too_old()` first and, when it answers, fails closed (PreToolUse) or
steps aside (Stop, SessionStart, PreCompact). This file must parse and run on any Python 3: no
f-strings, no annotations, no imports beyond `sys`.
"""

import sys

MIN_VERSION = (3, 11)  # pyproject.toml's requires-python; tests/guard/test_guard_interpreter.py pins the two


def too_old(version_info=None, executable=None):
    """'' when this interpreter is new enough, else one line that names it and the fix."""
    version = tuple(version_info if version_info is not None else sys.version_info)
    if version[:2] >= MIN_VERSION:
        return ""
    have = ".".join(str(part) for part in version[:3])
    need = ".".join(str(part) for part in MIN_VERSION)
    where = executable if executable is not None else (sys.executable or "python3")
    return (
        "python3 is " + have + " (" + where + ") but the guard hooks need Python >= " + need
        + "; put a Python " + need + "+ `python3` first on the PATH that starts Claude Code, then restart it."
    )  # fmt: skip
