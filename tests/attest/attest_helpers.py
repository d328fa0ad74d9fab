"""A real project in a tmp dir for the attestation tests: the pack's own files, a real git repo, the real
prepare.py on the session's embedded cache, and a test-sized TIME_BUDGET_SECONDS committed before setup
(so runs stay comparable). A uniquely named module (not conftest) so imports are unambiguous."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["prepare.py", "train.py", "pyproject.toml", "uv.lock", ".gitignore", ".python-version"]
PROJECT_DIRS = ["scripts", ".claude"]
TEST_BUDGET = 2  # seconds of training per run
SKIP = {"__pycache__", ".index", "node_modules", ".pytest_cache", "settings.local.json"}


def _ignore(folder, names):
    if Path(folder).name == "memory":
        return [n for n in names if n != "README.md"]
    return [n for n in names if n in SKIP or n.endswith(".lock")]


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


class Project:
    def __init__(self, root: Path, env: dict):
        self.root, self.env = root, env

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "scripts/experiment.py", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
        proc = self.cli(*args, "--json")
        assert proc.stdout.strip(), f"no JSON from {args}: {proc.stderr}"
        return proc, json.loads(proc.stdout)

    def train_variant(self, message: str, *edits: tuple[str, str], prologue: str = "") -> str:
        """Commit a train.py changed by exact (old, new) replacements and an optional prologue."""
        path = self.root / "train.py"
        text = path.read_text(encoding="utf-8")
        for old, new in edits:
            assert text.count(old) == 1, f"edit target not unique in train.py: {old!r}"
            text = text.replace(old, new)
        if prologue:
            text = text.replace("\nimport gc\n", "\n" + prologue + "\nimport gc\n", 1)
        path.write_text(text, encoding="utf-8")
        return self.commit(message, "train.py")

    def write_train(self, text: str, message: str) -> str:
        (self.root / "train.py").write_text(text, encoding="utf-8")
        return self.commit(message, "train.py")

    def commit(self, message: str, *paths: str) -> str:
        git(self.root, "add", *paths)
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def state(self) -> dict:
        return json.loads((self.root / ".autoresearch" / "state.json").read_text())

    def sidecar(self) -> list[dict]:
        path = self.root / ".autoresearch" / "runs.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_project(tmp_path: Path, cache: Path) -> Project:
    root = tmp_path / "night"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=_ignore)
    prepare = root / "prepare.py"
    text, n = re.subn(
        r"^TIME_BUDGET_SECONDS = \d+", f"TIME_BUDGET_SECONDS = {TEST_BUDGET}", prepare.read_text(), flags=re.M
    )
    assert n == 1, "prepare.py lost its TIME_BUDGET_SECONDS constant"
    prepare.write_text(text)
    git(root, "init", "-q", "-b", "master")
    git(root, "config", "user.email", "attest@example.com")
    git(root, "config", "user.name", "Attest")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project, with a test-sized budget")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORESEARCH_", "CLAUDE"))}
    env.update(AUTORESEARCH_CACHE=str(cache), AUTORESEARCH_DEVICE="cpu", CLAUDE_PROJECT_DIR=str(root))
    return Project(root, env)
