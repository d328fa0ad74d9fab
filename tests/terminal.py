"""Run a command with a real pseudo-terminal on one of its streams, as a person at a terminal would."""

from __future__ import annotations

import os
import pty
import subprocess


def on_a_terminal(argv: list[str], stream: str, timeout: float = 60, **popen) -> tuple[int, str, str]:
    """(exit code, what the terminal showed, the other stream's text); `stream` is "stdout" or "stderr"."""
    primary, secondary = pty.openpty()
    other = "stderr" if stream == "stdout" else "stdout"
    proc = subprocess.Popen(argv, **{stream: secondary, other: subprocess.PIPE}, text=True, **popen)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed: the command has exited
            break
        if not chunk:
            break
        seen += chunk
    rest = proc.communicate(timeout=timeout)[0 if other == "stdout" else 1]
    os.close(primary)
    return proc.returncode, seen.decode("utf-8", "replace"), rest
