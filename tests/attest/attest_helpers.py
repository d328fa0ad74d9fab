"""A real project in a tmp dir for the attestation tests: the pack's own files, a real git repo, the real
prepare.py on the session's embedded cache, and a test-sized TIME_BUDGET_SECONDS committed before setup
(so runs stay comparable). A uniquely named module (not conftest) so imports are unambiguous."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from project_copy import REPO_ROOT, copy_project, git  # noqa: F401 - REPO_ROOT and git for the tests

TEST_BUDGET = 2  # seconds of training per run


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
    return Project(root, copy_project(root, TEST_BUDGET, cache))
