"""A realistic night without any training, for the report page's tests, its bench and the docs screenshot.

    night = make_night(tmp_path / "night", experiments=80, seed=3)
    night.root, night.cfg, night.rows                 # a real git repo, config, the ledger's length

What it writes is what a night leaves behind: a real git repository whose commits (one per experiment,
each a real edit of this pack's train.py) come from one `git fast-import` (so 1,000 experiments take a
second, not minutes); discarded and crashed commits are left off the branch as `record` leaves them after
its reset; results.tsv and runs.jsonl in the formats `record` writes (through ledger.format_row, with the
runner's sidecar keys); state.json from state.new_state; full logs under .autoresearch/logs for the crashes
among the newest 50 runs; memory entries through the memory store, dated the night (one older entry too).
The numbers follow a simple model of a night: most ideas hurt a little, a few help, gains shrink over time,
about one run in twelve crashes.
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / ".claude" / "lib") not in sys.path:  # the bench imports this module outside pytest
    sys.path.insert(0, str(REPO_ROOT / ".claude" / "lib"))

from autoresearch import config, ledger, state  # noqa: E402

# agent-written text that carries HTML: the tests put it into a description and into a diff
XSS = "<script>alert(1)</script>"
DIFF_XSS = "# </pre><script>alert(2)</script> & <b>bold</b>"
XSS_ROW, DIFF_ROW = 5, 6

TAG = "nov25"
BRANCH = f"autoresearch/{TAG}"
BASELINE = 1.8612
SIGMA = 0.0031
START = datetime(2026, 11, 25, 22, 40, 0, tzinfo=timezone.utc)  # noqa: UP017 - 3.11 spelling kept

# (constant, values to try, description pattern): edits of the real train.py's hyperparameter lines
CONSTANTS = [
    ("MATRIX_LR", ["0.03", "0.05", "0.06", "0.045", "0.035"], "Muon matrix lr {old} -> {new}"),
    ("EMBEDDING_LR", ["0.03", "0.08", "0.1", "0.04"], "embedding lr {old} -> {new}"),
    ("UNEMBEDDING_LR", ["0.004", "0.012", "0.006", "0.01"], "lm_head lr {old} -> {new}"),
    ("SCALAR_LR", ["0.01", "0.03", "0.04"], "scalar lr {old} -> {new}"),
    ("ADAM_BETAS", ["(0.9, 0.95)", "(0.8, 0.99)", "(0.85, 0.95)"], "AdamW betas {old} -> {new}"),
    ("WEIGHT_DECAY", ["0.01", "0.05", "0.1"], "Muon weight decay {old} -> {new}"),
    ("WARMUP_RATIO", ["0.0", "0.05", "0.01"], "warm-up ratio {old} -> {new}"),
    ("WARMDOWN_RATIO", ["0.3", "0.6", "0.7", "0.4"], "warm-down ratio {old} -> {new}"),
    ("FINAL_LR_FRAC", ["0.1", "0.05"], "final lr fraction {old} -> {new}"),
    ("LOGIT_SOFTCAP", ["10.0", "20.0", "30.0"], "logit softcap {old} -> {new}"),
]
# larger edits: (description, line to insert after SEED = 42)
INSERTS = [
    ("z-loss 1e-4 on the logits", "Z_LOSS = 1e-4  # keeps the softmax normaliser near zero\n"),
    ("gradient clipping at 1.0", "GRAD_CLIP = 1.0  # clip the global grad norm before each step\n"),
    (
        "untie value embeddings and add a gate per layer",
        "VALUE_GATES = True  # one learned gate per layer on the value embeddings\nVALUE_GATE_INIT = 0.5\n",
    ),
    ("EMA of the weights for eval (0.999)", "EMA_DECAY = 0.999  # evaluate an EMA of the weights\n"),
]
CRASHES = [
    ("oom", "depth 6 at width 512: out of memory", "RuntimeError: [enforce fail at alloc_cpu.cpp:117] "
     "data. DefaultCPUAllocator: not enough memory: you tried to allocate 3221225472 bytes."),
    ("diverged", "matrix lr 0.2: loss exploded", "FAIL: loss is nan at step 212"),
    ("crash", "rotary on half the head dims", "RuntimeError: The size of tensor a (16) must match the size "
     "of tensor b (32) at non-singleton dimension 3"),
    ("timeout", "batch 64 with grad accumulation 8", "hard wall-clock limit reached: killed the group"),
    ("crash", "swap ReLU² for SwiGLU", "TypeError: forward() missing 1 required positional argument: 'gate'"),
]  # fmt: skip


class Night:
    def __init__(self, root: Path, rows: int, commits: list[str], test_scores: dict[str, float]):
        self.root, self.rows, self.commits, self.test_scores = root, rows, commits, test_scores
        self.cfg = config.load(root)

    def env(self, **extra) -> dict:
        import os

        env = {
            k: v
            for k, v in os.environ.items()
            # AUTORESEARCH_VAULT stays: the suite's temp vault keeps these runs out of the real ~
            if not k.startswith(("AUTORESEARCH_", "CLAUDE")) or k == "AUTORESEARCH_VAULT"
        }
        env.update(CLAUDE_PROJECT_DIR=str(self.root), **extra)
        return env

    def report_with_tests(self) -> dict:
        """report.collect's answer as the human's terminal would give it, with made-up test scores for the
        kept commits (this night has no saved models to score)."""
        from autoresearch import report

        rep = report.collect(self.cfg, with_test=False)
        for e in rep["kept"]:
            e["test_bpb"] = self.test_scores.get(e["commit"])
        rep["test_scored"], rep["test_withheld"] = True, None
        return rep


def _git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, timeout=120)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout.decode()


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _edit(text: str, rng: random.Random, tried: set) -> tuple[str, str]:
    """One experiment's train.py and its description, made from the incumbent's text."""
    for _ in range(50):
        if rng.random() < 0.15:
            desc, line = rng.choice(INSERTS)
            if line in text:
                continue
            return text.replace("SEED = 42\n", "SEED = 42\n" + line, 1), desc
        name, values, pattern = rng.choice(CONSTANTS)
        found = re.search(rf"^ *{name} = ", text, re.M)  # top level, or the first profile's value
        start = found.end()
        end = text.index("\n", start)
        old = text[start:end].split("  #")[0]
        new = rng.choice([v for v in values if v != old])
        if (name, new) in tried:
            continue
        tried.add((name, new))
        rest = text[start + len(old) : end]
        return text[:start] + new + rest + text[end:], pattern.format(old=old, new=new)
    return text + f"# experiment {len(tried)}\n", "comment only (no-op)"


def _threshold() -> float:
    return max(0.001, 2.0 * SIGMA * math.sqrt(2.0))


def make_night(
    root: Path,
    experiments: int = 80,
    seed: int = 3,
    descriptions: dict[int, str] | None = None,
    hand_rows: int = 0,
    missing_commits: int = 0,
    memory: bool = True,
    big_diffs: bool = False,
    diff_lines: dict[int, str] | None = None,
) -> Night:
    """A night of `experiments` ledger rows (the baseline is row 1). `descriptions` replaces the text of
    given rows (1-based); `hand_rows` rows are appended by hand (no runner record); `missing_commits` of the
    discards name commits that are not in the repository; `big_diffs` rewrites most of train.py each time;
    `diff_lines` adds a line to the train.py of given rows (to put text into a diff)."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "master")
    _git(root, "config", "user.email", "night@example.com")
    _git(root, "config", "user.name", "Night")
    (root / ".gitignore").write_text("results.tsv\nrun.log\n.autoresearch/\n.claude/\nreport.html\n")
    train0 = (REPO_ROOT / "train.py").read_text(encoding="utf-8")
    descriptions = descriptions or {}

    stream: list[bytes] = []

    def blob_commit(mark: int, parent: int | None, message: str, text: str, when: datetime) -> None:
        msg = message.encode()
        body = text.encode()
        head = f"commit refs/heads/{BRANCH}\nmark :{mark}\ncommitter Night <night@example.com> "
        stream.append(f"{head}{int(when.timestamp())} +0000\ndata {len(msg)}\n".encode() + msg + b"\n")
        if parent is not None:
            stream.append(f"from :{parent}\n".encode())
        stream.append(f"M 100644 inline train.py\ndata {len(body)}\n".encode() + body + b"\n")
        if parent is None:
            gi = (root / ".gitignore").read_bytes()
            stream.append(f"M 100644 inline .gitignore\ndata {len(gi)}\n".encode() + gi + b"\n")

    t = START
    blob_commit(1, None, "the project at the start of the night", train0, t)
    marks = {1: train0}
    best_mark, best_val, tried = 1, BASELINE, set()
    plan = []  # (mark or None, description, status, outcome, val, text of the crash)
    thr = _threshold()
    next_mark = 2
    parent_of: dict[int, int] = {}
    for i in range(2, experiments + 1):
        text, desc = _edit(marks[best_mark], rng, tried)
        desc = descriptions.get(i, desc)
        if diff_lines and i in diff_lines:
            text += diff_lines[i] + "\n"
        committed = text
        if big_diffs:  # every code line changes against the parent (which carries its own suffix)
            lines = text.split("\n")
            committed = "\n".join(ln + f"  # v{i}" if ln and not ln.startswith("#") else ln for ln in lines)
        t += timedelta(seconds=rng.randint(25, 90))
        roll = rng.random()
        if roll < 0.085:
            outcome, cdesc, message = rng.choice(CRASHES)
            desc = descriptions.get(i, cdesc)
            plan.append((next_mark, desc, "crash", outcome, None, message, t))
        else:
            drift = 0.004 - 0.011 * math.exp(-i / 30.0)
            measured = best_val + rng.gauss(drift, 0.008) + rng.gauss(0, SIGMA)
            if rng.random() < 0.03:
                measured = best_val + rng.uniform(0.25, 0.6)  # an idea that wrecked training: off the scale
            if best_val - measured > thr:
                plan.append((next_mark, desc, "keep", "ok", measured, None, t))
                best_val = measured
            else:
                plan.append((next_mark, desc, "discard", "ok", measured, None, t))
        blob_commit(next_mark, best_mark, desc, committed, t)
        parent_of[next_mark] = best_mark
        marks[next_mark] = text
        if plan[-1][2] == "keep":
            best_mark = next_mark
        next_mark += 1
        t += timedelta(seconds=rng.randint(318, 345))
    stream.append(f"reset refs/heads/{BRANCH}\nfrom :{best_mark}\n\n".encode())
    stream.append(b"reset refs/heads/master\nfrom :1\n\n")
    marks_file = root / ".git" / "night-marks"
    _git(root, "fast-import", "--quiet", f"--export-marks={marks_file}", stdin=b"".join(stream))
    sha = {}
    for line in marks_file.read_text().splitlines():
        mark, commit = line.split()
        sha[int(mark[1:])] = commit
    marks_file.unlink()
    _git(root, "symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")
    _git(root, "reset", "-q", "--hard")

    cfg = config.load(root)
    st = state.new_state(TAG, BRANCH, sha[1], {}, 2, 0.006)
    st["created_at"] = _iso(START)
    st["incumbent_commit"] = sha[best_mark]
    st["noise"] = {"sigma": SIGMA, "n": 2, "source": "baseline"}
    state.save(cfg, st)

    # the ledger and the sidecar, as `record` writes them
    base_runs = [BASELINE - SIGMA / 2, BASELINE + SIGMA / 2]
    lines, records, test_scores = [ledger.HEADER], [], {}
    noise = {"sigma": SIGMA, "n": 2, "source": "baseline", "threshold": thr, "min_delta": 0.001, "k": 2.0}
    logs_from = max(0, len(plan) + 1 - 50)
    cfg.full_log_dir.mkdir(parents=True, exist_ok=True)
    missing_left = missing_commits

    def add(commit, base, status, outcome, val, desc, started, finished, extra):
        row = ledger.recorded_row(commit, outcome, val, 0.9 if status != "crash" else 0.0, status, desc)
        lines.append(ledger.format_row(row.commit, row.val_bpb, row.memory_gb, row.status, row.description))
        ok = outcome == "ok"  # a failed run printed no summary block: no steps, tokens, device or seconds
        steps = rng.randint(1380, 1560) if ok else None
        seconds = round(300 + rng.uniform(9, 14), 1)
        records.append(
            {
                "recorded_at": _iso(finished + timedelta(seconds=20)),
                "tag": TAG,
                "commit": commit,
                "base_commit": base,
                "status": status,
                "description": desc,
                "outcome": outcome,
                "reason": extra.get("reason"),
                "val_bpb": val,
                "reported_val_bpb": val,
                "attested": outcome == "ok",
                "replicates": extra.get("replicates", [val] if val is not None else []),
                "memory_gb": row.memory_gb,
                "seconds": {
                    "training_seconds": 300.2 if ok else None,
                    "total_seconds": seconds if ok else None,
                },
                "wall_seconds": round((finished - started).total_seconds(), 2),
                "steps": steps,
                "tokens_M": round(steps * 2048 / 1e6, 1) if ok else None,
                "device": "cpu" if ok else None,
                "time_budget": 300 if ok else None,
                "comparable": outcome == "ok",
                "not_comparable_reason": None,
                "suggestion": status if status != "crash" else "crash",
                "noise": noise,
                "started_at": _iso(started),
                "finished_at": _iso(finished),
                "exit_code": 0 if outcome == "ok" else 1,
                "row_line": len(lines),
            }
        )

    t0 = START + timedelta(seconds=40)
    first = {"replicates": base_runs, "reason": "baseline 2/2 measured"}
    add(sha[1], sha[1], "keep", "ok", sum(base_runs) / 2, descriptions.get(1, "baseline"), t0,
        t0 + timedelta(seconds=640), first)  # fmt: skip
    test_scores[sha[1][:7]] = round(BASELINE + 0.0412, 6)
    for k, (mark, desc, status, outcome, val, message, started) in enumerate(plan):
        finished = started + timedelta(seconds=rng.randint(312, 330))
        commit = sha[mark]
        if status == "discard" and missing_left > 0:
            commit = f"{rng.getrandbits(160):040x}"  # a commit this repository never had
            missing_left -= 1
        base = sha[parent_of[mark]]
        reason = {"crash": message, "keep": "better than the incumbent by more than the threshold"}.get(
            status, "not better than the incumbent by more than the threshold"
        )
        add(commit, base, status, outcome, val, desc, started, finished, {"reason": reason})
        if status == "keep":
            test_scores[commit[:7]] = round(val + 0.0412 + rng.gauss(0, 0.002), 6)
        if status == "crash" and k >= logs_from:
            name = cfg.full_log_path(commit, _iso(started)).name
            progress = "".join(
                f"step {s:05d} | loss {4.1 - s / 300:.4f} | lr 0.0400 | 2,048 tok/s\n"
                for s in range(120, 220, 10)
            )
            (cfg.full_log_dir / name).write_text(
                progress + "Traceback (most recent call last):\n  File \"train.py\", line 412, in <module>\n"
                f"    loss = model(x, y)\n{message}\n"
            )  # fmt: skip
    for h in range(hand_rows):
        lines.append(ledger.format_row(f"{0xABC0000 + h:07x}", BASELINE - 0.05, 0.9, "keep", "by hand"))
    cfg.results_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg.sidecar_path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

    if memory:
        from memory import store

        day = START.date().isoformat()
        mem = cfg.memory_path
        store.add(mem, "learning", "Muon lr above 0.05 diverges with 3 layers", "seen in an earlier night",
                  ["lr"], {}, force=True, today="2026-11-20")  # fmt: skip
        kept = [(r["commit"], r["description"], r["val_bpb"]) for r in records[1:] if r["status"] == "keep"]
        for commit, desc, val in kept[:12]:
            store.add(
                mem,
                "learning",
                f"Kept: {desc[:150]}",
                f"Improves val_bpb to {val:.6f} against the incumbent; more steps per second at this width.",
                ["kept"],
                {"commit": commit[:7], "val_bpb": f"{val:.6f}", "status": "keep", "evidence": "measured"},
                force=True,
                today=day,
            )
        crashed = [(r["commit"], r["description"]) for r in records if r["status"] == "crash"]
        for commit, desc in crashed[:6]:
            text = f"Run of {commit[:7]} ended early; see its log tail."
            store.add(mem, "issue", f"Crash: {desc[:150]}", text, ["crash"], {}, force=True, today=day)
        text = "Three tries, all within noise."
        store.add(mem, "decision", "Stop tuning the softcap", text, ["softcap"], {}, force=True, today=day)
    return Night(root, len(lines) - 1, [r["commit"] for r in records], test_scores)
