"""`finalize` and the night's refs, on a real night of keeps, discards and crashes through the real CLI."""

from __future__ import annotations

import pytest
from runner_helpers import clean_env, git, make_night

pytestmark = pytest.mark.slow


def _experiment(night, name, val="1.5", crash=False):
    """One idea: a line appended to train.py (a crash exits 1 after its summary), committed and run."""
    train = night.root / "train.py"
    line = "raise SystemExit('boom')" if crash else f"IDEA_{name.upper()} = True"
    train.write_text(train.read_text() + f"{line}  # {name}\n")
    commit = night.commit(name, "train.py")
    night.cli("run", env=clean_env(FAKE_VAL=val))
    return commit


@pytest.fixture
def finished_night(tmp_path):
    """baseline 1.50; a keep 1.40; a discard 1.45; a crash; a keep 1.30 (two commits of one idea)."""
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    tag = night.state()["tag"]
    baseline = night.head()
    assert night.cli("run").returncode == 0
    assert night.cli("record", "keep", "baseline").returncode == 0
    first = _experiment(night, "wider", "1.400000")
    assert night.cli("record", "keep", "wider MLP").returncode == 0
    discarded = _experiment(night, "slower", "1.450000")
    assert night.cli("record", "discard", "lower lr").returncode == 0
    crashed = _experiment(night, "broken", crash=True)
    assert night.cli("record", "crash", "broken idea").returncode == 0
    night.write("notes.txt", "deeper: step one\n")
    night.commit("deeper, part 1", "notes.txt")
    second = _experiment(night, "deeper", "1.300000")
    assert night.cli("record", "keep", "deeper net").returncode == 0
    return night, tag, baseline, first, second, discarded, crashed


def test_finalize_builds_one_commit_per_keep_with_its_delta(finished_night):
    night, tag, baseline, first, second, _d, _c = finished_night
    run_branch, head = git(night.root, "branch", "--show-current"), night.head()
    proc, out = night.json("finalize")
    assert proc.returncode == 0, proc.stderr
    branch = f"autoresearch/{tag}-final"
    assert out["branch"] == branch and out["baseline"] == baseline
    log = git(night.root, "log", "--format=%s", f"{baseline}..{branch}").splitlines()
    assert log == ["deeper net", "wider MLP"]  # one commit per kept idea, in order (newest first here)
    bodies = git(night.root, "log", "--format=%b", f"{baseline}..{branch}")
    assert "val_bpb 1.400000 -> 1.300000 (delta -0.100000" in bodies
    assert "val_bpb 1.500000 -> 1.400000 (delta -0.100000" in bodies
    assert git(night.root, "diff", baseline, branch) == git(night.root, "diff", baseline, second)
    assert [c["source"] for c in out["commits"]] == [first, second]
    # the run branch, HEAD and the working tree are untouched
    assert git(night.root, "branch", "--show-current") == run_branch and night.head() == head
    assert git(night.root, "status", "--porcelain") == ""
    again = night.cli("finalize")
    assert again.returncode == 1 and "exists" in again.stderr and again.stderr.count("\n") == 1


def test_every_recorded_run_stays_reachable_after_reset_and_gc(finished_night):
    night, tag, _b, first, second, discarded, crashed = finished_night
    for commit in (discarded, crashed):  # reset off the branch by their records
        assert not git(night.root, "branch", "--contains", commit)
    git(night.root, "reflog", "expire", "--expire=now", "--all")
    git(night.root, "gc", "--prune=now", "--quiet")
    refs = git(night.root, "for-each-ref", "--format=%(refname)", f"refs/autoresearch/{tag}/").splitlines()
    assert {r.rsplit("/", 1)[1] for r in refs} >= {first, second, discarded, crashed}
    for commit in (discarded, crashed):
        assert git(night.root, "cat-file", "-t", commit) == "commit"
    from autoresearch import config, report_page

    page = report_page.gather(config.load(night.root))  # the page's data: every experiment has its diff
    shown = {e["full"]: e["diff"] or "" for e in page["experiments"]}
    assert "IDEA_SLOWER" in shown[discarded] and "SystemExit('boom')" in shown[crashed]


def test_finalize_without_a_kept_idea_says_so(tmp_path):
    night = make_night(tmp_path)
    assert night.cli("setup").returncode == 0
    early = night.cli("finalize")
    assert early.returncode == 1 and "baseline is not recorded" in early.stderr
    assert night.cli("run").returncode == 0 and night.cli("record", "keep", "baseline").returncode == 0
    none = night.cli("finalize")
    assert none.returncode == 1 and "no idea was kept" in none.stderr
