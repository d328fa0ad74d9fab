"""A fixed memory of realistic ML-experiment entries, and queries with their expected top hit.

Used by the known-answer ranking test (both backends) and as the seed vocabulary of bench/memory_search.py.
"""

from __future__ import annotations

TODAY = "2026-11-25"

# (id, date, title, tags, extra meta lines, body)
ENTRIES = {
    "learning": [
        (
            "L-0001",
            "2026-11-20",
            "Halving batch size helps at a 300 s budget",
            "batch-size, throughput",
            "- commit: a1b2c3d\n- val_bpb: 0.993800\n- delta: -0.004100\n"
            "- status: keep\n- evidence: measured",
            "TOTAL_BATCH_SIZE 2**19 -> 2**18 gave more optimizer steps inside the fixed budget.",
        ),
        (
            "L-0002",
            "2026-11-20",
            "Raising matrix learning rate to 0.06 diverged",
            "muon, optimizer",
            "- commit: b2c3d4e\n- status: crash\n- evidence: measured",
            "MATRIX_LR 0.04 -> 0.06: the loss went to inf at step 300. 0.05 was neutral.",
        ),
        (
            "L-0003",
            "2026-11-21",
            "Warmup of 5% of steps did not help",
            "warmup, schedule",
            "- status: discard\n- evidence: measured",
            "WARMUP_RATIO 0.0 -> 0.05 made the final loss slightly worse; "
            "the short budget favours no warmup.",
        ),
        (
            "L-0004",
            "2026-11-21",
            "Longer warmdown ratio 0.5 improves the final loss",
            "warmdown, schedule",
            "- status: keep\n- delta: -0.002000\n- evidence: measured",
            "WARMDOWN_RATIO 0.3 -> 0.5: the cooldown phase matters more than peak time.",
        ),
        (
            "L-0005",
            "2026-11-21",
            "Depth 10 beats depth 8 at equal time",
            "depth, architecture",
            "- status: keep\n- delta: -0.003100\n- evidence: measured",
            "A deeper, narrower model wins despite fewer tokens processed.",
        ),
        (
            "L-0006",
            "2026-11-22",
            "Rotary embedding base 50000 is no better than 10000",
            "rope, positional",
            "- status: discard\n- evidence: measured",
            "Changing the rotary base is neutral at sequence length 2048.",
        ),
        (
            "L-0007",
            "2026-11-22",
            "Weight decay 0.1 on the embeddings hurts",
            "weight-decay, regularization",
            "- status: discard\n- evidence: measured",
            "Decaying the token embedding table costs 0.003.",
        ),
        (
            "L-0008",
            "2026-11-22",
            "SwiGLU MLP slightly better than ReLU squared",
            "activation, mlp",
            "- status: keep\n- evidence: measured",
            "Gated activation at matched parameter count.",
        ),
        (
            "L-0009",
            "2026-11-22",
            "Removing value embeddings costs 0.01 bpb",
            "value-embeddings, ablation",
            "- status: discard\n- evidence: measured",
            "The value residual path is worth keeping.",
        ),
        (
            "L-0010",
            "2026-11-23",
            "Sliding window pattern SSSL is faster than all-global layers",
            "window, throughput",
            "- status: keep\n- evidence: measured",
            "Short windows in three of four layers raise tokens per second by 12%.",
        ),
        (
            "L-0011",
            "2026-11-23",
            "torch.compile max-autotune wastes the budget",
            "compile, startup",
            "- status: discard\n- evidence: measured",
            "Autotuning takes 90 s of the 300 s budget.",
        ),
        (
            "L-0012",
            "2026-11-23",
            "Gradient clipping at 1.0 stabilises high learning rates",
            "clipping, stability",
            "- status: keep\n- evidence: measured",
            "Clipping lets the matrix lr go to 0.05 without spikes.",
        ),
        (
            "L-0013",
            "2026-11-23",
            "Tied input and output embeddings hurt at this scale",
            "embeddings, tying",
            "- status: discard\n- evidence: measured",
            "Untied is better by 0.004.",
        ),
        (
            "L-0014",
            "2026-11-24",
            "Logit softcap 15 is better than 30",
            "softcap, logits",
            "- status: keep\n- evidence: measured",
            "A tighter cap on the output logits helps a little.",
        ),
        (
            "L-0015",
            "2026-11-24",
            "Adam beta2 0.95 beats 0.99 for the embeddings",
            "adam, betas",
            "- status: keep\n- evidence: measured",
            "Faster second-moment adaptation for the sparse embedding rows.",
        ),
        (
            "L-0016",
            "2026-11-24",
            "A seed change alone moved val_bpb by 0.002",
            "seed, noise",
            "- status: discard\n- evidence: measured",
            "Treat differences below 0.002 as run-to-run noise.",
        ),
        (
            "L-0017",
            "2026-11-24",
            "Muon momentum ramp from 0.85 to 0.95 helps",
            "muon, momentum",
            "- status: keep\n- evidence: measured",
            "Ramping the momentum over the first 300 steps.",
        ),
        (
            "L-0018",
            "2026-11-25",
            "Label smoothing might help the small model",
            "regularization, loss",
            "- evidence: hypothesis",
            "Untested idea from a paper; try 0.1.",
        ),
    ],
    "issue": [
        (
            "I-0001",
            "2026-11-20",
            "CUDA out of memory at depth 12 with device batch 64",
            "oom, vram",
            "- status: workaround",
            "Symptom: crash at step 1. Workaround: DEVICE_BATCH_SIZE 32 with gradient accumulation.",
        ),
        (
            "I-0002",
            "2026-11-21",
            "Loss becomes NaN after raising the embedding lr",
            "nan, stability",
            "- status: open",
            "Symptom: FAIL: loss is nan at step 57. Cause: EMBEDDING_LR 0.6 -> 1.2.",
        ),
        (
            "I-0003",
            "2026-11-21",
            "Flash attention kernel missing on the CPU run",
            "attention, kernel, cpu",
            "- status: workaround",
            "Workaround: fall back to scaled_dot_product_attention on CPU.",
        ),
        (
            "I-0004",
            "2026-11-22",
            "Run killed by the hard timeout when compilation took 4 minutes",
            "timeout, compile",
            "- status: resolved",
            "Resolution: compile without max-autotune.",
        ),
        (
            "I-0005",
            "2026-11-22",
            "Dataloader stalls when the data cache sits on a network disk",
            "dataloader, io",
            "- status: workaround",
            "Workaround: copy the shards to local SSD before the night starts.",
        ),
        (
            "I-0006",
            "2026-11-23",
            "A results.tsv row was lost after a hand edit",
            "ledger, results",
            "- status: resolved",
            "Never edit results.tsv by hand; the record command appends under a lock.",
        ),
        (
            "I-0007",
            "2026-11-24",
            "Tokenizer files missing after a reboot",
            "tokenizer, prepare",
            "- status: resolved",
            "Cause: /tmp cache. Resolution: AUTORESEARCH_CACHE points at a persistent folder.",
        ),
    ],
    "decision": [
        (
            "D-0001",
            "2026-11-20",
            "Compare runs at a fixed 300 s wall-clock budget",
            "budget, methodology",
            "- status: accepted",
            "Context: speedups should count. Decision: TIME_BUDGET stays 300 s.",
        ),
        (
            "D-0002",
            "2026-11-20",
            "Keep only gains beyond two sigma of the run noise",
            "keep-rule, statistics",
            "- status: accepted",
            "Baseline repeats estimate sigma; smaller gains are discarded.",
        ),
        (
            "D-0003",
            "2026-11-21",
            "Memory files stay untracked so a git reset never reverts them",
            "memory, git",
            "- status: accepted",
            "Decision: .claude/context/memory/*.md are gitignored.",
        ),
        (
            "D-0004",
            "2026-11-21",
            "Use bf16 autocast and never fp16",
            "precision, dtype",
            "- status: accepted",
            "fp16 needs loss scaling; bf16 does not.",
        ),
        (
            "D-0005",
            "2026-11-22",
            "One change per experiment",
            "methodology, ablation",
            "- status: accepted",
            "Combining changes hides which one helped.",
        ),
        (
            "D-0006",
            "2026-11-22",
            "Evaluate val_bpb on 10M tokens",
            "evaluation, tokens",
            "- status: accepted",
            "EVAL_TOKENS 10M keeps evaluation under 20 s.",
        ),
        (
            "D-0007",
            "2026-11-24",
            "Evaluate val_bpb on 20M tokens for lower noise",
            "evaluation, tokens",
            "- status: accepted\n- supersedes: D-0006",
            "Evaluation noise dominated small gains at 10M tokens.",
        ),
    ],
}

# (query, expected top hit)
QUERIES = [
    ("batch size", "L-0001"),
    ("out of memory", "I-0001"),
    ("oom", "I-0001"),
    ("matrix learning rate", "L-0002"),
    ("nan loss embedding", "I-0002"),
    ("warmup schedule", "L-0003"),
    ("warmdown", "L-0004"),
    ("depth architecture", "L-0005"),
    ("rope base", "L-0006"),
    ("weight decay", "L-0007"),
    ("swiglu activation", "L-0008"),
    ("value embeddings ablation", "L-0009"),
    ("sliding window", "L-0010"),
    ("torch.compile autotune", "L-0011"),
    ("gradient clipping", "L-0012"),
    ("tied embeddings", "L-0013"),
    ("softcap", "L-0014"),
    ("adam beta2", "L-0015"),
    ("seed noise", "L-0016"),
    ("muon momentum", "L-0017"),
    ("flash attention cpu", "I-0003"),
    ("timeout killed compile", "I-0004"),
    ("dataloader stall", "I-0005"),
    ("results.tsv hand edit", "I-0006"),
    ("tokenizer reboot", "I-0007"),
    ("wall-clock budget", "D-0001"),
    ("sigma keep rule", "D-0002"),
    ("git reset memory", "D-0003"),
    ("bf16 precision", "D-0004"),
    ("one change per experiment", "D-0005"),
    ("evaluation tokens", "D-0007"),
    ("label smoothing", "L-0018"),
]


def render_file(kind: str) -> str:
    heading = {"learning": "Learnings", "issue": "Issues", "decision": "Decisions"}[kind]
    parts = [f"# {heading}\n"]
    for entry_id, date, title, tags, meta, body in ENTRIES[kind]:
        parts.append(f"## {entry_id} · {title}\n- date: {date}\n- tags: {tags}\n{meta}\n\n{body}\n")
    return "\n".join(parts)


def write(folder) -> None:
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, name in (("learning", "learnings.md"), ("issue", "issues.md"), ("decision", "decisions.md")):
        (folder / name).write_text(render_file(kind), encoding="utf-8")
