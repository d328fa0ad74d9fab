"""
Quality benchmark: our train.py baseline against a plain GPT-2-style reference of the same parameter count,
trained with AdamW on the same data, batch, evaluation and time budget.

    uv run bench/quality.py                 # 3 repeats each at the full 300 s budget (~35 min on 2 cores)
    uv run bench/quality.py --repeats 2 --budget 60   # a quick look (test budget: not comparable)
    uv run bench/quality.py --json

Runs are interleaved (A, B, A, B, ...) so that machine contention hits both alike. Prints every run, then
mean ± std per model and the gap in units of the run noise (pooled std); the goal is a gap above 3 sigma.
The reference is: learned absolute positions, LayerNorm with biases, GELU MLP, tied embeddings, AdamW with
weight decay 0.1, linear warm-up and cosine decay to 10% (nanoGPT's recipe), on the same time-based schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".claude" / "lib")]

REF_LR = 1e-2  # the AdamW rate of the measured CPU reference runs (offline-data.md)
REF_WEIGHT_DECAY = 0.1
REF_BATCH = 16
REF_WARMUP = 0.02
REF_MIN_LR_FRAC = 0.1


def train_reference(depth: int) -> None:
    """The reference trainer (run in its own process). Prints train.py's summary block."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import resource

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from prepare import MAX_SEQ_LEN, TIME_BUDGET, TIME_BUDGET_ENV, Tokenizer, evaluate_bpb, make_dataloader

    t_start = time.time()
    budget = int(os.environ.get(TIME_BUDGET_ENV) or TIME_BUDGET)
    torch.manual_seed(42)
    torch.set_num_threads(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    tokenizer = Tokenizer.from_directory()
    V, T, d, n_head = tokenizer.get_vocab_size(), MAX_SEQ_LEN, 128, 4

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.attn_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            B, T_, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            q, k, v = (t.view(B, T_, n_head, d // n_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T_, d)
            x = x + self.attn_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT2(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(T, d)
            self.blocks = nn.ModuleList([Block() for _ in range(depth)])
            self.ln_f = nn.LayerNorm(d)
            self.apply(self._init)
            for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
                if name.endswith("proj.weight"):
                    nn.init.normal_(p, std=0.02 / math.sqrt(2 * depth))

        @staticmethod
        def _init(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

        def forward(self, idx, targets=None, reduction="mean"):
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
            for block in self.blocks:
                x = block(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # tied embeddings
            if targets is None:  # the metric asks for logits only
                return logits
            return F.cross_entropy(logits.view(-1, V), targets.reshape(-1), reduction=reduction)

    model = GPT2()
    num_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": REF_WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=REF_LR,
        betas=(0.9, 0.95),
    )
    print(f"reference GPT-2: depth {depth}, dim {d}, params {num_params / 1e6:.2f}M, lr {REF_LR}", flush=True)
    loader = make_dataloader(tokenizer, REF_BATCH, T, "train", device="cpu")
    x, y, epoch = next(loader)
    step, training_time = 0, 0.0
    while True:
        t0 = time.time()
        progress = min(training_time / budget, 1.0)
        if progress < REF_WARMUP:
            lrm = (progress + 1e-3) / REF_WARMUP
        else:
            cos = 0.5 * (1 + math.cos(math.pi * (progress - REF_WARMUP) / (1 - REF_WARMUP)))
            lrm = REF_MIN_LR_FRAC + (1 - REF_MIN_LR_FRAC) * cos
        for group in opt.param_groups:
            group["lr"] = REF_LR * lrm
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        x, y, epoch = next(loader)
        loss_value = loss.item()
        dt = time.time() - t0
        if not math.isfinite(loss_value) or loss_value > 100:
            print(f"FAIL: loss is {loss_value} at step {step}")
            sys.exit(1)
        if step > 10:
            training_time += dt
        step += 1
        if step % 200 == 0:
            print(f"step {step:05d} | loss {loss_value:.6f} | epoch {epoch}", flush=True)
        if step > 10 and training_time >= budget:
            break
    model.eval()
    val_bpb = evaluate_bpb(model, tokenizer, REF_BATCH)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    values = {
        "val_bpb": f"{val_bpb:.6f}",
        "training_seconds": f"{training_time:.1f}",
        "total_seconds": f"{time.time() - t_start:.1f}",
        "peak_vram_mb": "0.0",
        "peak_rss_mb": f"{rss:.1f}",
        "mfu_percent": "0.00",
        "total_tokens_M": f"{step * REF_BATCH * T / 1e6:.1f}",
        "num_steps": str(step),
        "num_params_M": f"{num_params / 1e6:.2f}",
        "depth": str(depth),
        "device": "cpu",
        "time_budget": str(budget),
    }
    print("---")
    for key, value in values.items():
        print(f"{key + ':':<18}{value}")


def reference_params(depth: int, V: int, T: int, d: int = 128) -> int:
    per_block = 12 * d * d + 13 * d  # weights + biases + two LayerNorms
    return V * d + T * d + depth * per_block + 2 * d


def run(cmd: list[str], env: dict) -> dict:
    from autoresearch.summary import parse_summary

    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    summary = parse_summary(proc.stdout)
    if proc.returncode != 0 or summary is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"quality.py: run failed ({' '.join(cmd)}): " + " | ".join(tail))
    summary["wall_seconds"] = time.time() - t0
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget", type=int, default=None, help="seconds per run (default: prepare.TIME_BUDGET)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--train-reference", type=int, metavar="DEPTH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_reference:
        train_reference(args.train_reference)
        return 0

    import prepare

    env = {**os.environ, "AUTORESEARCH_DEVICE": "cpu"}
    if args.budget:
        env[prepare.TIME_BUDGET_ENV] = str(args.budget)
    baseline_cmd = [sys.executable, "train.py"]
    ours, ref = [], []
    ref_depth = None
    for i in range(args.repeats):
        ours.append(run(baseline_cmd, env))
        if ref_depth is None:  # match the reference's parameter count to ours
            target = ours[0]["num_params_M"] * 1e6
            ref_depth = min(
                range(1, 13),
                key=lambda k: abs(reference_params(k, prepare.VOCAB_SIZE, prepare.MAX_SEQ_LEN) - target),
            )
        ref.append(run([sys.executable, "bench/quality.py", "--train-reference", str(ref_depth)], env))
        print(
            f"repeat {i + 1}: baseline {ours[-1]['val_bpb']:.4f}  reference {ref[-1]['val_bpb']:.4f}",
            file=sys.stderr,
            flush=True,
        )

    def stats(runs):
        vals = [r["val_bpb"] for r in runs]
        return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else float("nan"))

    (m_a, s_a), (m_b, s_b) = stats(ours), stats(ref)
    pooled = math.sqrt((s_a**2 + s_b**2) / 2) if args.repeats > 1 else float("nan")
    gap = m_b - m_a
    result = {
        "budget_s": ours[0]["time_budget"],
        "repeats": args.repeats,
        "baseline": {
            "runs": [r["val_bpb"] for r in ours],
            "mean": m_a,
            "std": s_a,
            "params_M": ours[0]["num_params_M"],
            "tokens_M": [r["total_tokens_M"] for r in ours],
        },
        "reference": {
            "runs": [r["val_bpb"] for r in ref],
            "mean": m_b,
            "std": s_b,
            "depth": ref_depth,
            "params_M": ref[0]["num_params_M"],
            "tokens_M": [r["total_tokens_M"] for r in ref],
        },
        "gap": gap,
        "pooled_sigma": pooled,
        "gap_in_sigma": gap / pooled if pooled and pooled == pooled else float("nan"),
    }
    result["beats_by_3_sigma"] = bool(gap > 3 * pooled) if pooled == pooled else None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"quality on the embedded profile, {result['budget_s']} s budget, "
        f"{args.repeats} interleaved repeats, CPU"
    )
    print()
    print("| model | params | val_bpb per run | mean ± std | tokens seen (M) |")
    print("|---|---|---|---|---|")
    for label, key in (
        ("baseline train.py (Muon + AdamW)", "baseline"),
        ("GPT-2-style reference (AdamW)", "reference"),
    ):
        r = result[key]
        runs = ", ".join(f"{v:.4f}" for v in r["runs"])
        toks = ", ".join(f"{v:.1f}" for v in r["tokens_M"])
        print(f"| {label} | {r['params_M']:.2f}M | {runs} | {r['mean']:.4f} ± {r['std']:.4f} | {toks} |")
    print()
    print(
        f"gap: {gap:.4f} bpb = {result['gap_in_sigma']:.1f} sigma of run noise (pooled std {pooled:.4f}); "
        f"beats the reference by more than 3 sigma: {'yes' if result['beats_by_3_sigma'] else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
