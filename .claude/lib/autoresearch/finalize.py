"""`finalize`: the night as a branch to review, one commit per kept idea, in order, each with its delta.

Built with git plumbing only (`commit-tree`, then `update-ref` of a branch that must not exist yet), so the
run branch, HEAD, the index and the working tree are never touched and no existing history is rewritten.
Each new commit takes the tree of its keep, so the branch's net diff is exactly baseline -> last keep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import gitutil, ledger, state


class FinalizeError(Exception):
    """One line: what is wrong and what to do."""


@dataclass
class FinalCommit:
    commit: str  # the new commit on the final branch
    source: str  # the kept commit whose tree it carries
    description: str
    val_bpb: float
    delta: float  # against the previous best (the baseline for the first keep)


@dataclass
class Finalized:
    branch: str
    baseline: str
    baseline_val_bpb: float
    head: str
    commits: list[FinalCommit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def final_branch(tag: str) -> str:
    return f"autoresearch/{tag}-final"


def _message(description: str, before: float, after: float) -> str:
    delta = f"delta {after - before:+.6f}, attested on val"
    return f"{description}\n\nval_bpb {before:.6f} -> {after:.6f} ({delta})\n"


def finalize(cfg, branch: str | None = None) -> Finalized:
    st = state.load(cfg)
    if not st:
        raise FinalizeError("no night here: run `setup` first")
    tag, baseline = st.get("tag") or "night", st.get("baseline_commit")
    branch = branch or final_branch(tag)
    if gitutil.try_rev_parse(cfg.root, f"refs/heads/{branch}"):
        raise FinalizeError(
            f"branch {branch} exists: delete it (git branch -D {branch}) or pass --branch NAME"
        )
    records = [r for r in ledger.read_records(cfg.sidecar_path) if r.get("status") == "keep"]
    base_records = [r for r in records if r.get("commit") == baseline]
    if not baseline or not base_records:
        raise FinalizeError('the baseline is not recorded yet: `record keep "baseline"` first')
    ideas = [r for r in records if r.get("commit") != baseline]
    if not ideas:
        raise FinalizeError("no idea was kept tonight: there is nothing to finalize beyond the baseline")
    before = float(base_records[-1]["val_bpb"])
    done = Finalized(branch=branch, baseline=baseline, baseline_val_bpb=before, head=baseline)
    parent = baseline
    for r in ideas:
        source, after = r["commit"], float(r["val_bpb"])
        tree = gitutil.git(cfg.root, "rev-parse", f"{source}^{{tree}}")
        message = _message(r.get("description") or source[:7], before, after)
        parent = gitutil.git(cfg.root, "commit-tree", tree, "-p", parent, "-m", message)
        done.commits.append(FinalCommit(parent, source, r.get("description") or "", after, after - before))
        before = after
    # create-only: update-ref with the all-zero old value refuses if the branch appeared meanwhile
    gitutil.git(cfg.root, "update-ref", f"refs/heads/{branch}", parent, "0" * 40)
    done.head = parent
    return done


def format_result(f: Finalized) -> str:
    head = f"finalized: {f.branch} ({len(f.commits)} commits on {f.baseline[:7]}"
    lines = [f"{head}, baseline val_bpb {f.baseline_val_bpb:.6f})"]
    for c in f.commits:
        row = f"{c.commit[:7]} {c.val_bpb:.6f} ({c.delta:+.6f})"
        lines.append(f"  {row}  {c.description}  [from {c.source[:7]}]")
    lines.append(f"review: git log --stat {f.baseline[:7]}..{f.branch}; the run branch is untouched")
    return "\n".join(lines)
