"""Read the ml-experiment-loop skill: its frontmatter, its bash code blocks and the commands it names.

The tests use these helpers so that they check the skill's LITERAL text: when SKILL.md changes a command,
the tests run the new command (or fail because it is gone).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SKILL_DIR = REPO_ROOT / ".claude" / "skills" / "ml-experiment-loop"
SKILL_MD = SKILL_DIR / "SKILL.md"
REFERENCES = sorted((SKILL_DIR / "references").glob("*.md"))

_FENCE = re.compile(r"^\s*```(\w*)\s*$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def split_frontmatter(text: str) -> tuple[str, str]:
    """(yaml text, body) of a SKILL.md; raises ValueError when the `---` fences are missing."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError("SKILL.md must start with a '---' line")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :])
    raise ValueError("SKILL.md frontmatter has no closing '---' line")


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Every fenced block as (language, lines), in document order."""
    blocks, lang, current = [], None, []
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match and lang is None:
            lang, current = match.group(1) or "text", []
        elif match and line.strip() == "```":
            blocks.append((lang, current))
            lang = None
        elif lang is not None:
            current.append(line.strip())
    return blocks


def bash_commands(text: str) -> list[str]:
    """Every non-empty, non-comment line of the bash blocks, in order."""
    return [
        line for lang, lines in code_blocks(text) if lang in ("bash", "sh") for line in lines
        if line and not line.startswith("#")
    ]  # fmt: skip


def inline_code(text: str) -> list[str]:
    """Every `inline code` span outside fenced blocks."""
    spans, in_block = [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_block = not in_block
            continue
        if not in_block:
            spans.extend(_INLINE_CODE.findall(line))
    return spans


def all_skill_texts() -> dict[str, str]:
    """SKILL.md and every reference, by name."""
    texts = {"SKILL.md": SKILL_MD.read_text(encoding="utf-8")}
    for path in REFERENCES:
        texts[f"references/{path.name}"] = path.read_text(encoding="utf-8")
    return texts


def uv_run_invocations(text: str) -> list[list[str]]:
    """Every `uv run <script> [args]` the text names (code blocks and inline code), as argv lists.

    Placeholders such as `keep|discard|crash` are kept as written; callers decide what to check.
    """
    found = []
    candidates = bash_commands(text) + inline_code(text)
    for candidate in candidates:
        for piece in re.split(r"&&|;|\|\|", candidate):
            piece = piece.strip()
            if not piece.startswith("uv run "):
                continue
            try:
                argv = shlex.split(piece)
            except ValueError:
                argv = piece.split()
            found.append(argv)
    return found


def find_command(commands: list[str], prefix: str) -> str:
    """The first command starting with `prefix`; an AssertionError naming it when the skill lacks one."""
    for command in commands:
        if command.startswith(prefix):
            return command
    raise AssertionError(f"SKILL.md has no bash command starting with {prefix!r}")


def replace_last_quoted(command: str, new_text: str) -> str:
    """The command with its last "double-quoted" argument replaced (a message, description or query)."""
    matches = list(re.finditer(r'"[^"]*"', command))
    assert matches, f"expected a double-quoted argument in {command!r}"
    assert not set(new_text) & set('"$`\\'), f"keep replacement text shell-plain: {new_text!r}"
    last = matches[-1]
    return f'{command[: last.start()]}"{new_text}"{command[last.end() :]}'


def skill_commands() -> dict[str, str]:
    """The literal commands of SKILL.md, by role. Missing ones fail here, naming the command."""
    cmds = bash_commands(SKILL_MD.read_text(encoding="utf-8"))
    return {
        "sync": find_command(cmds, "uv sync"),
        "setup": find_command(cmds, "uv run scripts/experiment.py setup"),
        "run": find_command(cmds, "uv run scripts/experiment.py run"),
        "record_keep": find_command(cmds, "uv run scripts/experiment.py record keep "),
        "record_discard": find_command(cmds, "uv run scripts/experiment.py record discard "),
        "record_crash": find_command(cmds, "uv run scripts/experiment.py record crash "),
        "git_status": find_command(cmds, "git status"),
        "git_log": find_command(cmds, "git log"),
        "status": find_command(cmds, "uv run scripts/experiment.py status"),
        "search": find_command(cmds, 'uv run .claude/lib/memory/memory_search.py "'),
        "commit": find_command(cmds, "git add train.py && git commit -m "),
        "grep": find_command(cmds, 'grep "^val_bpb:'),
        "memory_add": find_command(cmds, "uv run .claude/lib/memory/memory_search.py add --kind learning"),
        "hold": next(c for c in cmds if c.startswith("git add train.py") and c.endswith("submit --hold")),
        "hold_rev": find_command(cmds, "uv run scripts/experiment.py submit --hold "),
        "wait": find_command(cmds, "uv run scripts/experiment.py wait"),
        "record_job": find_command(cmds, "uv run scripts/experiment.py record --job "),
    }


def tail_command() -> str:
    """The skill's crash-reading command, from its inline text (`tail -n 50 run.log`)."""
    text = SKILL_MD.read_text(encoding="utf-8")
    match = re.search(r"`(tail -n \d+ run\.log)`", text)
    assert match, "SKILL.md no longer names a bounded tail of run.log"
    return match.group(1)


def resume_commands() -> list[str]:
    """The read-only commands resuming.md tells the agent to run, in order (no placeholder, no checkout)."""
    text = (SKILL_DIR / "references" / "resuming.md").read_text(encoding="utf-8")
    steps = text.split("then run these in order")[1].split("Then decide")[0]
    commands = []
    for line in steps.splitlines():
        line = line.strip()
        if line.startswith(("uv run ", "git ")):
            commands.append(line)
        commands += [c for c in inline_code(line) if c.startswith(("uv run ", "git ", "tail -n "))]
    commands = [c for c in commands if "<" not in c and "checkout" not in c and '"' not in c]
    assert len(commands) >= 5, f"resuming.md lost its read-only steps: {commands}"
    return commands
