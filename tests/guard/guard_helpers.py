"""Throw-away projects for the guard tests: real git repos with the real config and data files.

A module of its own (not conftest) so test files can import it by a name no other folder uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FILES = {
    "prepare.py": "TIME_BUDGET = 300\nMAX_SEQ_LEN = 2048\n",
    "train.py": "from prepare import MAX_SEQ_LEN\nDEPTH = 8\n",
    "notes.txt": "scratch\n",
    "run.log": "".join(f"step {i:05d} | loss 3.0\n" for i in range(2000)) + "---\nval_bpb:          1.0\n",
    "results.tsv": "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n",
    ".autoresearch/state.json": "{}\n",
    ".autoresearch/runs.jsonl": "",
    ".claude/context/memory/learnings.md": "# learnings\n",
    ".claude/context/memory/issues.md": "# issues\n",
    ".claude/hooks/pre_tool_use.py": "# stand-in\n",
    ".claude/settings.json": "{}\n",
    ".claude/lib/autoresearch/policy.py": "# stand-in\n",
    ".claude/skills/ml-experiment-loop/SKILL.md": "---\nname: x\n---\n",
    "scripts/experiment.py": "# stand-in\n",
    "fix_prepare.diff": (
        "--- a/prepare.py\n+++ b/prepare.py\n@@ -1 +1 @@\n-TIME_BUDGET = 300\n+TIME_BUDGET = 5\n"
    ),
    "write_prepare.sh": "#!/bin/sh\necho 'TIME_BUDGET = 5' > prepare.py\n",
    "writer.py": "from pathlib import Path\nPath('prepare.py').write_text('TIME_BUDGET = 5')\n",
}
TRACKED = ["prepare.py", "train.py", "pyproject.toml", ".gitignore", ".claude", "scripts"]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_project(root: Path, ignore_data: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    if ignore_data:
        shutil.copy(REPO / ".gitignore", root / ".gitignore")
    else:
        (root / ".gitignore").write_text("__pycache__/\n")
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", *TRACKED)
    if not ignore_data:
        git(root, "add", "results.tsv")
    git(root, "commit", "-q", "-m", "init")
    if not ignore_data:
        with (root / "results.tsv").open("a") as fh:
            fh.write("a1b2c3d\t0.997900\t44.0\tkeep\tbaseline\n")
    return root


def install_guard(root: Path) -> Path:
    """Replace the project's stand-in hooks and library with this checkout's real ones; return the hook."""
    for rel in (".claude/hooks", ".claude/lib"):
        shutil.rmtree(root / rel, ignore_errors=True)
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    return root / ".claude" / "hooks" / "pre_tool_use.py"
