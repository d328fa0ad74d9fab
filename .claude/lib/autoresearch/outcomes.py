"""The outcome classes of a run: the one home of their names and meaning.

The runner assigns them, status and the hooks show them, SKILL.md's table and the tests are checked
against OUTCOMES. Only `ok` is ever keepable.
"""

from __future__ import annotations

OK = "ok"
MISMATCH = "mismatch"  # train.py printed a val_bpb that differs from the runner's own measurement
LEAK = "leak"  # the causality probe saw logits depend on later tokens
TAMPERED = "tampered"  # a protected or guard file changed, before or during the run
CRASH = "crash"
OOM = "oom"
TIMEOUT = "timeout"
DIVERGED = "diverged"
METRIC_MISSING = "metric-missing"  # no summary, or nothing the runner could attest
LOST = "lost"  # a remote job died with its node or its Ray job: not the idea's fault; resubmit it

OUTCOMES = (OK, MISMATCH, LEAK, TAMPERED, CRASH, OOM, TIMEOUT, DIVERGED, METRIC_MISSING, LOST)
KEEPABLE = (OK,)

MEANING = {
    OK: "train.py exited 0 and the runner's attested val_bpb agrees with the printed one",
    MISMATCH: "the printed val_bpb differs from the attested one beyond the tolerance",
    LEAK: "the model reads tokens after the position it predicts (causality probe)",
    TAMPERED: "a protected or guard file changed since setup, or during the run",
    CRASH: "non-zero exit",
    OOM: "out of memory (non-zero exit with an out-of-memory message, or SIGKILL with no traceback)",
    TIMEOUT: "the hard wall-clock limit, or the runner itself was signalled",
    DIVERGED: "NaN/inf or exploding loss",
    METRIC_MISSING: "exit 0 without a summary val_bpb, or a model the runner could not export or score",
    LOST: "the remote job ended without a result (its node or its Ray job died): resubmit, not a crash",
}
