"""Git helpers. `current_branch`/`head_commit` read .git directly (no subprocess: hooks call them on every
tool call); everything that changes the repository goes through the git CLI with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

GIT_TIMEOUT_SECONDS = 60


class GitError(Exception):
    """A git failure worded as one line."""


# --- fast, read-only, stdlib: parse .git files ---


def git_dir(root: str | os.PathLike) -> Path | None:
    """The repository's git dir; follows the `gitdir:` file of worktrees and submodules."""
    dot_git = Path(root) / ".git"
    if dot_git.is_dir():
        return dot_git
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (Path(root) / target).resolve()


def _common_dir(gdir: Path) -> Path:
    try:
        text = (gdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return gdir
    path = Path(text)
    return path if path.is_absolute() else (gdir / path).resolve()


def _read_head(gdir: Path) -> str | None:
    try:
        return (gdir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def current_branch(root: str | os.PathLike) -> str | None:
    """The checked-out branch name (e.g. `autoresearch/nov25`); None when detached or not a repo."""
    gdir = git_dir(root)
    head = _read_head(gdir) if gdir else None
    if head and head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/") :]
    return None


def _resolve_ref(gdir: Path, ref: str) -> str | None:
    for folder in (gdir, _common_dir(gdir)):
        try:
            return (folder / ref).read_text(encoding="utf-8").strip() or None
        except OSError:
            pass
    try:
        packed = (_common_dir(gdir) / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in packed.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[1].strip() == ref:
            return parts[0]
    return None


def head_commit(root: str | os.PathLike) -> str | None:
    """HEAD's 40-hex commit, read from files; None when unborn or unreadable."""
    gdir = git_dir(root)
    head = _read_head(gdir) if gdir else None
    if not head:
        return None
    if head.startswith("ref: "):
        return _resolve_ref(gdir, head[len("ref: ") :])
    return head if len(head) == 40 else None


# --- subprocess helpers ---


def git(root: str | os.PathLike, *args: str, check: bool = True, strip: bool = True) -> str:
    """Run git in `root` and return stdout. check=True raises GitError with git's last stderr line."""
    import subprocess  # lazy: the hooks only use the file readers above

    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} took more than {GIT_TIMEOUT_SECONDS}s") from None
    if check and proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise GitError(f"git {' '.join(args)} failed: {last}")
    return proc.stdout.strip() if strip else proc.stdout


def is_repo(root) -> bool:
    return git(root, "rev-parse", "--is-inside-work-tree", check=False) == "true"


def rev_parse(root, rev: str = "HEAD") -> str:
    return git(root, "rev-parse", "--verify", "--quiet", rev + "^{commit}")


def try_rev_parse(root, rev: str) -> str | None:
    try:
        return rev_parse(root, rev) or None
    except GitError:
        return None


def branch_exists(root, branch: str) -> bool:
    return bool(git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False))


def create_branch(root, branch: str) -> None:
    git(root, "checkout", "-q", "-b", branch)


def is_ancestor(root, ancestor: str, descendant: str) -> bool:
    import subprocess

    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant],
        cwd=root,
        capture_output=True,
        timeout=GIT_TIMEOUT_SECONDS,
    )
    return proc.returncode == 0


def dirty_tracked_files(root) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files are ignored."""
    out = git(root, "status", "--porcelain", "--untracked-files=no", strip=False)  # column 1 may be a space
    return [line[3:] for line in out.splitlines() if line.strip()]


def is_ignored(root, relpath: str) -> bool:
    import subprocess

    proc = subprocess.run(
        ["git", "check-ignore", "-q", relpath], cwd=root, capture_output=True, timeout=GIT_TIMEOUT_SECONDS
    )
    return proc.returncode == 0


def not_ignored(root, paths: list[str]) -> list[str]:
    """The paths git would not ignore, by the ignore files alone (--no-index: a staged file still counts)."""
    import subprocess

    proc = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "--no-index", "-z", "--stdin"],
        input="\0".join(paths).encode("utf-8") + b"\0", capture_output=True, timeout=GIT_TIMEOUT_SECONDS,
    )  # fmt: skip
    if proc.returncode not in (0, 1):  # 1: none of them is ignored
        raise OSError(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git failed"])
    ignored = set(proc.stdout.decode("utf-8", "surrogateescape").split("\0"))
    return [p for p in paths if p not in ignored]


def hooks_dir(root) -> Path:
    """Where git looks for hooks (honours core.hooksPath and worktrees)."""
    path = Path(git(root, "rev-parse", "--git-path", "hooks"))
    return path if path.is_absolute() else (Path(root) / path).resolve()


def info_exclude(root) -> Path:
    path = Path(git(root, "rev-parse", "--git-path", "info/exclude"))
    return path if path.is_absolute() else (Path(root) / path).resolve()


def reset_hard(root, commit: str) -> None:
    """`git reset --hard commit`: tracked files only; untracked and ignored files (the ledger) survive."""
    git(root, "reset", "-q", "--hard", commit)


def commit_subject(root, rev: str = "HEAD") -> str:
    return git(root, "log", "-1", "--format=%s", rev, check=False)


NIGHT_REFS = "refs/autoresearch"  # each recorded run's commit stays reachable: reset and gc lose none


def night_ref(tag: str, commit: str) -> str:
    return f"{NIGHT_REFS}/{tag}/{commit}"
