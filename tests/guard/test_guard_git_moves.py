"""Git commands that move the work tree to another commit's content (merge, pull, rebase, cherry-pick,
revert, reset, checkout/switch of a branch) are denied exactly when git says the move would change a
protected or guard file. The loop's own `git reset --hard HEAD~1` stays allowed.
"""

from __future__ import annotations

import subprocess

import pytest
from autoresearch import config, policy
from guard_helpers import git, make_project


def sha(root, rev="HEAD"):
    return subprocess.run(
        ["git", "rev-parse", rev], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_file(root, rel, text, message):
    (root / rel).write_text(text)
    git(root, "add", rel)
    git(root, "commit", "-q", "-m", message)
    return sha(root)


def branch_from_main(root, name, rel, text, message):
    git(root, "checkout", "-q", "main")
    git(root, "checkout", "-q", "-b", name)
    return commit_file(root, rel, text, message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """main; `harness` changes prepare.py; `hooks` changes a hook; `ideas` changes train.py only;
    the checked-out loop branch has two train.py commits and tracks `harness` as its upstream."""
    root = make_project(tmp_path_factory.mktemp("moves") / "proj", ignore_data=True)
    shas = {
        "harness": branch_from_main(root, "harness", "prepare.py", "TIME_BUDGET = 5\n", "shorter budget"),
        "hooks": branch_from_main(root, "hooks", ".claude/hooks/pre_tool_use.py", "# nothing\n", "hook off"),
        "ideas": branch_from_main(root, "ideas", "train.py", "DEPTH = 2\n", "depth 2"),
    }
    branch_from_main(root, "autoresearch/t1", "train.py", "DEPTH = 6\n", "depth 6")
    commit_file(root, "train.py", "DEPTH = 7\n", "depth 7")
    git(root, "branch", "-q", "--set-upstream-to=harness")
    return root, shas


def verdict(root, command):
    payload = {"tool_name": "Bash", "tool_input": {"command": command}, "cwd": str(root)}
    return policy.evaluate(payload, config.load(root))


DENIED = [
    ("git merge harness", "protected-files"),
    ("git merge --no-ff -m 'take it' harness", "protected-files"),
    ("git merge hooks", "guard-integrity"),
    ("git pull", "protected-files"),  # the upstream is `harness`
    ("git pull --rebase", "protected-files"),
    ("git rebase harness", "protected-files"),
    ("git rebase --onto harness main", "protected-files"),
    ("git cherry-pick {harness}", "protected-files"),
    ("git cherry-pick -n main..harness", "protected-files"),
    ("git revert --no-edit {harness}", "protected-files"),
    ("git reset --hard harness", "protected-files"),
    ("git reset --keep hooks", "guard-integrity"),
    ("git checkout harness", "protected-files"),
    ("git checkout -b fresh harness", "protected-files"),
    ("git switch hooks", "guard-integrity"),
    ("git switch -c fresh harness", "protected-files"),
    ("cd /tmp && git -C {root} merge harness", "protected-files"),
]
ALLOWED = [
    "git reset --hard HEAD~1",  # the protocol's discard
    "git reset --hard",
    "git reset --soft harness",  # moves no file
    "git merge ideas",
    "git merge --abort",
    "git rebase main",
    "git rebase --continue",
    "git cherry-pick {ideas}",
    "git revert --no-edit HEAD",
    "git checkout main",
    "git checkout -b autoresearch/t2",
    "git switch -c autoresearch/t3",
    "git merge no-such-branch",  # git's own error, not ours
]


@pytest.mark.parametrize("command, rule", DENIED)
def test_moves_that_change_a_guarded_file_are_denied(repo, command, rule):
    root, shas = repo
    decision = verdict(root, command.format(root=root, **shas))
    assert not decision.allowed and decision.rule == rule, decision


@pytest.mark.parametrize("command", ALLOWED)
def test_moves_that_keep_guarded_files_are_allowed(repo, command):
    root, shas = repo
    decision = verdict(root, command.format(root=root, **shas))
    assert decision.allowed, decision


def test_the_reason_names_the_file_and_the_allowed_way(repo):
    reason = verdict(repo[0], "git merge harness").reason
    assert reason.startswith("protected-files: prepare.py is the fixed harness")
    assert "train.py" in reason
