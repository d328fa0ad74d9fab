"""A real project for the loop hooks: a tmp git repo, this checkout's .claude/hooks + .claude/lib copied in.

The hooks run as Claude Code runs them: `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/<name>.py`, JSON
on stdin, in a subprocess. State and ledger rows are written by the runner's own modules (state.save,
ledger.append_row), never hand-rolled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from autoresearch import config, gitutil, ledger, state

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # a real 3.11 binary (the pyenv `python3` shim is a bash script)
BRANCH = "autoresearch/t1"


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


class Project:
    def __init__(self, root: Path):
        self.root = root

    # --- config and files ---

    @property
    def cfg(self) -> config.Config:
        return config.load(self.root)

    def set_stop(self, **limits) -> None:
        """Rewrite [tool.autoresearch.stop] values in this project's pyproject.toml (a human's edit)."""
        path = self.root / "pyproject.toml"
        text = path.read_text()
        for key, value in limits.items():
            lines = text.splitlines()
            idx = next(i for i, ln in enumerate(lines) if ln.startswith(f"{key} ="))
            lines[idx] = f"{key} = {value!r}"
            text = "\n".join(lines) + "\n"
        path.write_text(text)

    def set_direction(self, direction: str) -> None:
        path = self.root / "pyproject.toml"
        path.write_text(
            path.read_text().replace('metric_direction = "lower"', f'metric_direction = "{direction}"')
        )

    # --- state and ledger, through the runner's modules ---

    def setup_state(self, **changes) -> dict:
        cfg = self.cfg
        st = state.new_state("t1", BRANCH, gitutil.head_commit(self.root), {}, 2, cfg.noise.fallback_sigma)
        st.update(changes)
        state.save(cfg, st)
        ledger.create(cfg.results_path)
        return st

    def update_state(self, **changes) -> dict:
        st = state.load(self.cfg)
        st.update(changes)
        state.save(self.cfg, st)
        return st

    def start_flight(self, pid: int, commit: str, **age) -> None:
        """The state of a run in flight, as the runner writes it: process `pid` training `commit`."""
        self.update_state(
            in_flight={
                "pid": pid,
                "pgid": pid,
                "runner_pid": pid,
                "commit": commit,
                "base_commit": self.baseline,
                "started_at": iso_ago(**age),
                "log": "run.log",
            }
        )

    @property
    def baseline(self) -> str:
        return state.load(self.cfg)["baseline_commit"]

    def add_row(
        self, commit: str, val_bpb: float, status: str = "keep", description: str = "an idea"
    ) -> None:
        row = ledger.append_row(self.cfg.results_path, ledger.Row(commit, val_bpb, 12.5, status, description))
        # what `record` writes beside the row: without it the row counts as written by hand (unattested)
        ledger.append_record(
            self.cfg.sidecar_path,
            {"commit": commit, "status": status, "row_line": row.line_no, "attested": True},
        )

    def add_record(self, commit: str, values: list[float]) -> None:
        ledger.append_record(
            self.cfg.sidecar_path,
            {"commit": commit, "outcome": "ok", "comparable": True, "replicates": values},
        )

    def measured_baseline(self, value: float = 1.0) -> None:
        """Two comparable baseline runs recorded: the night is past its baseline repeats."""
        self.add_record(self.baseline, [value])
        self.add_record(self.baseline, [value + 0.001])
        self.add_row(self.baseline, value, "keep", "baseline")

    def commit_change(self, message: str = "try an idea") -> str:
        path = self.root / "train.py"
        path.write_text(path.read_text() + f"# {message}\n")
        git(self.root, "commit", "-qam", message)
        return git(self.root, "rev-parse", "HEAD")

    # --- hooks ---

    def hook(self, name: str, payload=None, raw: bytes | None = None, cwd: Path | None = None):
        data = raw if raw is not None else json.dumps(payload).encode()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["CLAUDE_PROJECT_DIR"] = str(self.root)
        proc = subprocess.run(
            [PYTHON, "-I", "-S", str(self.root / ".claude" / "hooks" / f"{name}.py")],
            input=data,
            capture_output=True,
            cwd=cwd or self.root,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert b"Traceback" not in proc.stderr, proc.stderr.decode()
        return proc.stdout.decode(), proc.stderr.decode()

    def stop(self, active: bool = False, **extra) -> dict | None:
        out, _ = self.hook("stop", stop_payload(self.root, active, **extra))
        if not out:
            return None
        assert out.lstrip().startswith("{")
        return json.loads(out)

    def session_start(self, source: str = "compact") -> str:
        out, _ = self.hook("session_start", session_payload(self.root, source))
        reply = json.loads(out)
        assert reply["hookSpecificOutput"]["hookEventName"] == "SessionStart"
        return reply["hookSpecificOutput"]["additionalContext"]

    def pre_compact(self, trigger: str = "auto") -> str:
        out, _ = self.hook("pre_compact", pre_compact_payload(self.root, trigger))
        return out

    def snapshots(self) -> list[Path]:
        base = self.cfg.snapshot_dir
        return sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []


# --- the payloads Claude Code sends (reference §2) ---


def _common(root: Path, event: str) -> dict:
    return {
        "session_id": "3f2a9c1e-7b44-4f0e-9a51-0c7d2e8b6a10",
        "transcript_path": f"/root/.claude/projects/-tmp-proj/{event}.jsonl",
        "cwd": str(root),
        "permission_mode": "bypassPermissions",
        "hook_event_name": event,
    }


def stop_payload(root: Path, active: bool = False, **extra) -> dict:
    payload = _common(root, "Stop")
    payload.update(
        stop_hook_active=active,
        last_assistant_message="The run finished; I have recorded it. Should I continue?",
    )
    payload.update(extra)
    return payload


def session_payload(root: Path, source: str) -> dict:
    payload = _common(root, "SessionStart")
    payload.update(source=source, model="claude-opus-4-5")
    del payload["permission_mode"]
    return payload


def pre_compact_payload(root: Path, trigger: str) -> dict:
    payload = _common(root, "PreCompact")
    payload.update(trigger=trigger, custom_instructions="" if trigger == "auto" else "keep the results")
    return payload


def iso_ago(**delta) -> str:
    return (datetime.now(state.UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")
