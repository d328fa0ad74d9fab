"""Drive the real Claude Code CLI (`claude -p`) in a temp copy of this repo against the fake Messages API.

    repo = make_repo_copy(tmp_path)                # the shippable files, git init + commit
    run = run_claude(cli, repo, Script([[tool("Bash", command="git status")], "Done."]), mode="default")
    run.denied_ids, run.result_text(call), run.requests  # what the client did and sent

Only loopback is used: the CLI talks to 127.0.0.1, with non-essential traffic and telemetry off, a dummy key
and a throwaway HOME. Besides the repo's own hooks, the copy gets a `.claude/settings.local.json` with a
recorder hook (PostToolUse and PostToolUseFailure) that appends each payload to a log outside the repo: it
shows the tool input the tool really ran with, after any `updatedInput` from our PreToolUse hook.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fakeapi import FakeAnthropic, Script

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
CLI_VERSION = "2.1.332"  # the version package.json pins; checked against `claude --version`
# The previous pin: the tier must still pass on it (CLAUDE_E2E_CLI=/path/to/2.1.197/claude uv run pytest ...).
SUPPORTED_VERSIONS = (CLI_VERSION, "2.1.197")
CLI_TIMEOUT_SECONDS = 180  # one scripted client session; a hang fails the test instead of CI
DUMMY_KEY = "sk-ant-dummy"
INSTALL_HINT = "run `cd tests/e2e && npm ci` to install the pinned @anthropic-ai/claude-code"

# What a temp copy holds: the product as a user would clone it. Within these paths every file git would ship
# (tracked, or new and not ignored) is copied; ignored files (memory entries, caches, run data) never are.
COPY_PATHS = [
    "prepare.py",
    "train.py",
    "pyproject.toml",
    "uv.lock",
    ".python-version",
    ".gitignore",
    "README.md",
    ".claude/settings.json",
    ".claude/hooks",
    ".claude/lib",
    ".claude/skills",
    ".claude/context",
    "scripts",
]

INSTALL_FAILURES: list[str] = []  # why the automatic `npm ci` did not give a binary, for the skip message

# npm installs the platform package next to the wrapper; its postinstall copies the binary into bin/.
_NPM_DIR = E2E_DIR / "node_modules" / "@anthropic-ai"


def find_cli() -> Path | None:
    """The claude binary: $CLAUDE_E2E_CLI, else the one `npm ci` installed under tests/e2e/node_modules."""
    override = os.environ.get("CLAUDE_E2E_CLI")
    if override:
        return Path(override) if Path(override).is_file() else None
    candidates = [_NPM_DIR / "claude-code" / "bin" / "claude.exe"]
    candidates += sorted(_NPM_DIR.glob("claude-code-*/claude"))
    for path in candidates:
        # Before postinstall runs, bin/claude.exe is a small placeholder stub, not the native binary.
        if path.is_file() and os.access(path, os.X_OK) and path.stat().st_size > 1_000_000:
            return path
    return None


def cli_version(cli: Path) -> str:
    out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def install_cli() -> str | None:
    """Install the pinned client from package-lock.json with `npm ci`; None on success, else why not.

    This makes the README's one test command (`uv run pytest`) complete on a fresh machine: the first run of
    the tier installs the client (the npm registry is reachable wherever `uv sync` was).
    """
    if os.environ.get("CLAUDE_E2E_CLI"):
        return "CLAUDE_E2E_CLI points at a missing file"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=E2E_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"npm ci failed: {last}"
    return None


def require_cli() -> Path:
    """The pinned binary, installed with `npm ci` on first use. Not installable: skip with the install
    command, but FAIL when $CI is set, so CI can never pass by silently skipping the only tests that run the
    real client."""
    import pytest

    cli = find_cli()
    if cli is None:
        why = install_cli()
        cli = find_cli()
        if cli is None and why:
            INSTALL_FAILURES.append(why)
    if cli is None:
        where = os.environ.get("CLAUDE_E2E_CLI") or "tests/e2e/node_modules"
        tried = f" ({INSTALL_FAILURES[-1]})" if INSTALL_FAILURES else ""
        message = f"Claude Code CLI {CLI_VERSION} not found at {where}{tried}; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the end-to-end tier must not be skipped)", pytrace=False)
        pytest.skip(message)
    version = (cli_version(cli).split() or [""])[0]  # "2.1.332 (Claude Code)"
    allowed = SUPPORTED_VERSIONS if os.environ.get("CLAUDE_E2E_CLI") else (CLI_VERSION,)
    if version not in allowed:
        pytest.fail(f"{cli} reports {version!r}, expected one of {allowed}; {INSTALL_HINT}", pytrace=False)
    return cli


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="e2e", GIT_AUTHOR_EMAIL="e2e@example.invalid")
    env.update(GIT_COMMITTER_NAME="e2e", GIT_COMMITTER_EMAIL="e2e@example.invalid")
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def shippable_files() -> list[str]:
    """The files under COPY_PATHS that git would ship from this checkout (tracked or new, not ignored)."""
    listed = _git(
        REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *COPY_PATHS
    )
    return sorted({rel for rel in listed.split("\0") if rel and (REPO_ROOT / rel).is_file()})


def make_repo_copy(tmp: Path) -> Path:
    """A fresh git repo at tmp/repo holding the product files, committed on `master`."""
    repo = tmp / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    for rel in shippable_files():
        dst = repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, dst)
    _git(repo, "init", "-q", "-b", "master")
    # The client runs with a throwaway HOME (no global git identity), so commits need a repo-local one.
    _git(repo, "config", "user.name", "e2e")
    _git(repo, "config", "user.email", "e2e@example.invalid")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "autoresearch-pack (e2e copy)")
    return repo


def recorder_log(repo: Path) -> Path:
    """Where the recorder hook of `repo`'s sessions appends (outside the repo)."""
    return repo.parent / "post_tool_use.jsonl"


def install_recorder(repo: Path, log: Path) -> None:
    """PostToolUse(+Failure) hooks in settings.local.json, merged with the project's: log each payload."""
    code = f"import sys;open({str(log)!r},'a').write(sys.stdin.read().strip()+chr(10))"
    command = f'python3 -I -S -c "{code}"'
    group = [{"matcher": "", "hooks": [{"type": "command", "command": command}]}]
    settings = {"hooks": {"PostToolUse": group, "PostToolUseFailure": group}}
    (repo / ".claude" / "settings.local.json").write_text(json.dumps(settings, indent=2))


# `uv run` inside a copy uses this checkout's synced venv, offline and without re-syncing it (a copy has no
# .venv of its own, and building one would download torch).
SYNCED_VENV = sys.prefix if sys.prefix != sys.base_prefix else str(REPO_ROOT / ".venv")  # pytest runs in it
UV_IN_COPY = {
    "UV_PROJECT_ENVIRONMENT": SYNCED_VENV,
    "UV_NO_SYNC": "1",
    "UV_OFFLINE": "1",
    "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),
}
# Inside the client the Bash sandbox lets uv write only the settings' allowWrite `~/.cache/uv`, under the temp
# HOME; uv needs it for its lock even when it syncs nothing. It must exist before the sandbox starts.
UV_CACHE_IN_HOME = (".cache", "uv")


@functools.cache
def real_python3() -> str | None:
    """The interpreter `python3` on PATH really is (a pyenv shim costs ~0.4 s per hook call here)."""
    try:
        out = subprocess.run(
            ["python3", "-I", "-S", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return None
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isfile(path) else None


def fast_path(work: Path) -> str:
    """PATH for the client with `python3` resolved once: same interpreter the hooks would get, no shim."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    python = real_python3()
    if python is None:
        return path
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "python3"
    if not link.exists():
        link.symlink_to(python)
    return f"{bin_dir}{os.pathsep}{path}"


def client_env(home: Path, base_url: str, extra: dict | None = None) -> dict:
    env = {
        "PATH": fast_path(home.parent),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": DUMMY_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "IS_SANDBOX": "1",  # lets root use bypassPermissions
        "NO_PROXY": "127.0.0.1,localhost",
        **UV_IN_COPY,
        "UV_CACHE_DIR": str(home.joinpath(*UV_CACHE_IN_HOME)),
    }
    for name in ("PYENV_ROOT", "PYENV_VERSION", "TMPDIR", "CI"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


@dataclass
class ClientRun:
    """What one `claude -p` session did: its JSON result, the recorded requests and the recorder's log."""

    script: Script
    result: dict
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    post_tool_use: list[dict] = field(default_factory=list)

    @property
    def denials(self) -> list[dict]:
        return self.result.get("permission_denials") or []

    @property
    def denied_ids(self) -> set[str]:
        return {d.get("tool_use_id") for d in self.denials}

    @property
    def requests(self) -> list[dict]:
        """Bodies of the agent-loop requests, in order."""
        return [r.body for r in self.script.main_requests()]

    def tool_results(self) -> dict[str, dict]:
        """tool_use_id -> the tool_result block the client sent back (from every recorded request)."""
        found: dict[str, dict] = {}
        for body in self.requests:
            for message in body.get("messages", []):
                content = message.get("content")
                if message.get("role") != "user" or not isinstance(content, list):
                    continue
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        found[block["tool_use_id"]] = block
        return found

    def result_text(self, call: dict) -> str:
        block = self.tool_results().get(call["id"])
        if block is None:
            raise AssertionError(f"no tool_result for {call['name']} {call['input']} in any request")
        return block_text(block.get("content"))

    def result_is_error(self, call: dict) -> bool:
        return bool(self.tool_results()[call["id"]].get("is_error"))

    def ran_input(self, call: dict) -> dict | None:
        """The tool input the tool actually ran with (PostToolUse payload), None if it never ran."""
        for payload in self.post_tool_use:
            if payload.get("tool_use_id") == call["id"]:
                return payload.get("tool_input")
        return None

    def describe(self) -> str:
        """A short dump for assertion messages."""
        lines = [f"rc={self.returncode} {self.seconds:.1f}s result={self.result.get('result')!r}"]
        lines += [
            f"denied: {d.get('tool_name')} {json.dumps(d.get('tool_input'))[:160]}" for d in self.denials
        ]
        for block in self.tool_results().values():
            text = block_text(block.get("content"))
            lines.append(f"result {block['tool_use_id'][-6:]} err={block.get('is_error')}: {text[:200]!r}")
        if self.stderr.strip():
            lines.append("stderr: " + self.stderr.strip()[-1500:])
        return "\n".join(lines)


def block_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def client_home(repo: Path) -> Path:
    """The throwaway HOME of `repo`'s sessions (`~` in the settings' sandbox paths, e.g. `~/.cache/uv`)."""
    return repo.parent / "home"


def run_claude(
    cli: Path,
    repo: Path,
    script: Script,
    *,
    mode: str = "default",
    prompt: str = "Run the scripted end-to-end scenario.",
    extra_args: list[str] | None = None,
    extra_env: dict | None = None,
    timeout: float = CLI_TIMEOUT_SECONDS,
) -> ClientRun:
    """One `claude -p` session in `repo` against a fresh fake API serving `script` (a `Script`, or a
    `fakeapi.Conductor` that decides each turn while the session runs)."""
    work = repo.parent
    home = client_home(repo)
    home.joinpath(*UV_CACHE_IN_HOME).mkdir(parents=True, exist_ok=True)
    log = recorder_log(repo)
    install_recorder(repo, log)
    args = [str(cli), "-p", prompt, "--output-format", "json", "--permission-mode", mode, *(extra_args or [])]
    with FakeAnthropic(script) as api:
        start = time.monotonic()
        done = subprocess.run(
            args,
            cwd=repo,
            env=client_env(home, api.url, extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.monotonic() - start
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = {}
    post = []
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                post.append(json.loads(line))
            except ValueError:
                continue
    run = ClientRun(script, result, done.returncode, done.stdout, done.stderr, seconds, post)
    dump_dir = os.environ.get("E2E_DUMP_DIR")  # debugging aid: every request body and the result, as JSON
    if dump_dir:
        target = Path(dump_dir) / f"{work.name}-{mode}-{int(time.time() * 1000)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        bodies = [
            {"path": r.path, "main_loop": r.main_loop, "turn": r.turn, "body": r.body}
            for r in script.requests
        ]
        target.write_text(json.dumps({"result": result, "stderr": done.stderr, "requests": bodies}, indent=1))
    if not result:
        raise AssertionError(
            f"claude -p printed no JSON result\n{run.describe()}\nstdout: {done.stdout[-1500:]}"
        )
    print(f"[e2e] {mode}: {seconds:.1f}s, {len(run.requests)} model requests", file=sys.stderr)
    return run
