"""
Quality benchmark: our train.py baseline against two references of its parameter class, on the same data,
time budget and evaluation (prepare.evaluate_bpb), each in its own process, interleaved.

    uv run bench/quality.py                         # 3 arms x 3 repeats, full 300 s (~50 min, 2 cores)
    uv run bench/quality.py --arms baseline,upstream  # two arms only (~33 min)
    uv run bench/quality.py --repeats 2 --budget 60   # a quick screen (test budget: not comparable)
    uv run bench/quality.py --json

Arms:
  baseline  train.py as it stands (its CPU profile when run here).
  upstream  karpathy/autoresearch's recipe, written for this pack from its published facts
            (../shared/reference/autoresearch-facts.md): value embeddings, the SSSL sliding-window pattern,
            Muon (NorMuon, cautious weight decay 0.2) for the block matrices plus AdamW for embeddings, head
            and scalars at upstream's learning rates (AdamW scaled by (d/768)^-0.5), no warm-up, linear
            warm-down over the last half; scaled by upstream's own knobs to depth 3, width 128 and the
            2^14-token batch its README suggests for small machines.
  gpt2      a plain GPT-2-style model (learned positions, LayerNorm with biases, GELU, tied embeddings)
            trained with AdamW, warm-up and cosine decay (nanoGPT's recipe), depth matched to the baseline.

Every arm runs at the baseline's precision (bf16 autocast with fp32 attention on CPUs with bf16 matmuls,
prepare.cpu_has_bf16_matmul; fp32 elsewhere) and evaluates in fp32, as the runner scores.
Runs are interleaved (baseline, upstream, gpt2, baseline, ...) so that machine contention hits every arm
alike. Prints every run (val_bpb, tokens seen, tokens/s), mean +- std per arm, and the margin of the baseline
over each other arm in units of the pooled run noise sqrt((s_baseline^2 + s_arm^2) / 2); the goal is >= 3.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".claude" / "lib")]

# Upstream recipe arm: written for this pack from the published facts of karpathy/autoresearch's train.py
# (../shared/reference/autoresearch-facts.md, sections 1 and 7), scaled by upstream's knobs to a 2-core CPU.
UP_DEPTH = 3  # upstream's DEPTH knob; model_dim = ceil(DEPTH * ASPECT_RATIO / HEAD_DIM) * HEAD_DIM = 128
UP_ASPECT_RATIO = 42  # width 128 at depth 3: the baseline's shape and parameter count (1.64M)
UP_HEAD_DIM = 32  # 4 heads at width 128 (upstream's 128 would leave a single head)
UP_WINDOW_PATTERN = "SSSL"  # S = half the context, L = all of it; the last layer is always L
UP_TOTAL_BATCH = 2**14  # tokens per step: the README's advice for small machines
UP_DEVICE_BATCH = 128  # rows of MAX_SEQ_LEN = 128 tokens: one micro-batch of 2**14 tokens
UP_EMBEDDING_LR = 0.6  # AdamW, wte and value embeddings (scaled by (d_model / 768) ** -0.5)
UP_UNEMBEDDING_LR = 0.004  # AdamW, lm_head (scaled likewise)
UP_MATRIX_LR = 0.04  # Muon, block matrices (x sqrt(max(1, rows / cols)))
UP_SCALAR_LR = 0.5  # AdamW, x0_lambdas (betas 0.96, 0.95); resid_lambdas get SCALAR_LR * 0.01
UP_WEIGHT_DECAY = 0.2  # Muon, cautious, decays linearly with progress
UP_ADAM_BETAS = (0.8, 0.95)
UP_WARMUP_RATIO = 0.0
UP_WARMDOWN_RATIO = 0.5
UP_FINAL_LR_FRAC = 0.0
UP_SOFTCAP = 15.0
UP_VE_GATE_CHANNELS = 32
UP_UNCLOCKED_STEPS = 10  # steps 0..10 are not clocked (upstream's compile warm-up)

REF_LR = 1e-2  # the AdamW rate of the measured CPU reference runs (offline-data.md)
REF_WEIGHT_DECAY = 0.1
REF_BATCH = 16
REF_WARMUP = 0.02
REF_MIN_LR_FRAC = 0.1


def cpu_precision() -> str:
    """The precision policy of every arm, the baseline's: bf16 autocast where the CPU has bf16 matmuls."""
    from prepare import cpu_has_bf16_matmul

    return "bf16 autocast" if cpu_has_bf16_matmul() else "fp32"


def cpu_autocast():
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_precision() != "fp32")


def attention(q, k, v, **kwargs):
    """SDPA, in fp32 under CPU autocast as in the baseline: bf16 attention was slower than fp32 on this CPU
    for the upstream arm too (44 vs 45 steps in 40 s), bf16 matmuls with fp32 attention faster (52)."""
    import torch
    import torch.nn.functional as F

    if not torch.is_autocast_enabled("cpu"):
        return F.scaled_dot_product_attention(q, k, v, **kwargs)
    with torch.autocast("cpu", enabled=False):
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs)


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
            y = attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T_, d)
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
    autocast = cpu_autocast()
    print(
        f"reference GPT-2: depth {depth}, dim {d}, params {num_params / 1e6:.2f}M, lr {REF_LR}, "
        f"precision {cpu_precision()}",
        flush=True,
    )
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
        with autocast:
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


def _summary_block(values: dict) -> None:
    print("---")
    for key, value in values.items():
        print(f"{key + ':':<18}{value}")


def upstream_params(V: int, depth: int = UP_DEPTH) -> int:
    d = math.ceil(depth * UP_ASPECT_RATIO / UP_HEAD_DIM) * UP_HEAD_DIM
    ve_layers = sum(1 for i in range(depth) if (depth - 1 - i) % 2 == 0)
    gates = ve_layers * (d // UP_HEAD_DIM) * UP_VE_GATE_CHANNELS
    return 2 * V * d + ve_layers * V * d + depth * 12 * d * d + gates + 2 * depth


def train_upstream() -> None:
    """The upstream-recipe trainer (run in its own process). Prints train.py's summary block.

    Deviations, all forced by the CPU or by what the facts leave out: the baseline's precision policy (bf16
    autocast with fp32 attention where the CPU has bf16 matmuls, else fp32) and SDPA with a boolean
    sliding-window mask instead of bf16 flash-attention 3; no torch.compile; Keller Jordan's quintic
    Newton-Schulz in place of the Polar-Express coefficients (not in the facts); NorMuon's second moment
    written from its description (per row or column, beta2 0.95, norm-preserving)."""
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
    V, T = tokenizer.get_vocab_size(), MAX_SEQ_LEN
    n_layer = UP_DEPTH
    d = math.ceil(n_layer * UP_ASPECT_RATIO / UP_HEAD_DIM) * UP_HEAD_DIM
    n_head, hd = d // UP_HEAD_DIM, UP_HEAD_DIM
    pattern = (UP_WINDOW_PATTERN * n_layer)[:n_layer]
    windows = [T if (c == "L" or i == n_layer - 1) else T // 2 for i, c in enumerate(pattern)]
    ve_layers = [i for i in range(n_layer) if (n_layer - 1 - i) % 2 == 0]
    pos = torch.arange(T)
    masks = {w: (pos[None, :] <= pos[:, None]) & (pos[:, None] - pos[None, :] < w) for w in set(windows)}

    def norm(x):
        return F.rms_norm(x, (x.size(-1),))

    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = torch.outer(pos.float(), inv_freq)
    cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]

    def rope(x):  # split-half rotary
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat(
            [
                x1 * cos[:, : x.size(1)] + x2 * sin[:, : x.size(1)],
                x2 * cos[:, : x.size(1)] - x1 * sin[:, : x.size(1)],
            ],
            dim=-1,
        )

    class Block(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.c_q, self.c_k, self.c_v, self.c_proj = (nn.Linear(d, d, bias=False) for _ in range(4))
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)
            has_ve = layer in ve_layers
            self.ve_gate = nn.Linear(UP_VE_GATE_CHANNELS, n_head, bias=False) if has_ve else None
            self.mask = masks[windows[layer]]

        def forward(self, x, ve):
            B, T_, _ = x.shape
            h = norm(x)
            q, k, v = (lin(h).view(B, T_, n_head, hd) for lin in (self.c_q, self.c_k, self.c_v))
            if ve is not None:  # ResFormer-style value residual, gated per head
                gate = 2 * torch.sigmoid(self.ve_gate(h[..., :UP_VE_GATE_CHANNELS]))
                v = v + gate.unsqueeze(-1) * ve.view(B, T_, n_head, hd)
            q, k = norm(rope(q)), norm(rope(k))  # QK-norm after RoPE
            y = attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=self.mask[:T_, :T_]
            )
            x = x + self.c_proj(y.transpose(1, 2).reshape(B, T_, d))
            return x + self.mlp_proj(F.relu(self.c_fc(norm(x))).square())

    class UpstreamGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, d)
            self.value_embeds = nn.ModuleDict({str(i): nn.Embedding(V, d) for i in ve_layers})
            self.blocks = nn.ModuleList([Block(i) for i in range(n_layer)])
            self.resid_lambdas = nn.Parameter(torch.ones(n_layer))
            self.x0_lambdas = nn.Parameter(torch.full((n_layer,), 0.1))
            self.lm_head = nn.Linear(d, V, bias=False)
            s = 3**0.5 / d**0.5
            with torch.no_grad():
                nn.init.normal_(self.wte.weight, std=1.0)
                nn.init.normal_(self.lm_head.weight, std=0.001)
                for e in self.value_embeds.values():
                    nn.init.uniform_(e.weight, -s, s)
                for b in self.blocks:
                    for lin in (b.c_q, b.c_k, b.c_v, b.c_fc):
                        nn.init.uniform_(lin.weight, -s, s)
                    nn.init.zeros_(b.c_proj.weight)
                    nn.init.zeros_(b.mlp_proj.weight)
                    if b.ve_gate is not None:
                        nn.init.zeros_(b.ve_gate.weight)

        def forward(self, idx, targets=None, reduction="mean"):
            x = x0 = norm(self.wte(idx))
            for i, block in enumerate(self.blocks):
                x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
                x = block(x, self.value_embeds[str(i)](idx) if str(i) in self.value_embeds else None)
            logits = self.lm_head(norm(x)).float()
            logits = UP_SOFTCAP * torch.tanh(logits / UP_SOFTCAP)
            if targets is None:
                return logits
            return F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1, reduction=reduction)

    model = UpstreamGPT()
    num_params = sum(p.numel() for p in model.parameters())
    assert num_params == upstream_params(V)

    def newton_schulz(G, steps=5):
        a, b, c = 3.4445, -4.7750, 2.0315
        X = G.float()
        tall = X.size(-2) > X.size(-1)
        X = X.mT if tall else X
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
        for _ in range(steps):
            A = X @ X.mT
            X = a * X + (b * A + c * A @ A) @ X
        return X.mT if tall else X

    matrices = [p for b in model.blocks for p in b.parameters()]  # incl. the value-embedding gates
    lr_scale = (d / 768) ** -0.5
    adam_groups = [
        dict(params=[model.lm_head.weight], lr=UP_UNEMBEDDING_LR * lr_scale, betas=UP_ADAM_BETAS),
        dict(
            params=[model.wte.weight, *[e.weight for e in model.value_embeds.values()]],
            lr=UP_EMBEDDING_LR * lr_scale,
            betas=UP_ADAM_BETAS,
        ),
        dict(params=[model.resid_lambdas], lr=UP_SCALAR_LR * 0.01, betas=UP_ADAM_BETAS),
        dict(params=[model.x0_lambdas], lr=UP_SCALAR_LR, betas=(0.96, 0.95)),
    ]
    assert (
        sum(p.numel() for g in adam_groups for p in g["params"]) + sum(p.numel() for p in matrices)
        == num_params
    )
    adam_state, muon_state = {}, {}
    for g in adam_groups:
        g["initial_lr"] = g["lr"]

    @torch.no_grad()
    def optimizer_step(lrm, momentum, wd, t):
        for g in adam_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                m, v = adam_state.setdefault(p, (torch.zeros_like(p), torch.zeros_like(p)))
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2**t)).sqrt_().add_(1e-10)
                p.addcdiv_(m, denom, value=-g["initial_lr"] * lrm / (1 - b1**t))
        by_shape = {}
        for p in matrices:
            by_shape.setdefault(p.shape, []).append(p)
        for shape, ps in by_shape.items():  # same-shape matrices stacked, one group per shape
            grads = torch.stack([p.grad for p in ps])
            st = muon_state.setdefault(shape, {"buf": torch.zeros_like(grads)})
            buf = st["buf"].lerp_(grads, 1 - momentum)
            u = newton_schulz(grads.lerp_(buf, momentum))  # Nesterov
            red = -1 if shape[0] >= shape[1] else -2  # NorMuon: second moment per row (or column)
            sq = u.square().mean(dim=red, keepdim=True)
            if "v" not in st:
                st["v"] = torch.zeros_like(sq)
            st["v"].lerp_(sq, 1 - 0.95)
            before = u.norm(dim=(-2, -1), keepdim=True)
            u = u * st["v"].clamp_min(1e-10).rsqrt()
            u = u * (before / (u.norm(dim=(-2, -1), keepdim=True) + 1e-10))
            lr = UP_MATRIX_LR * lrm * max(1.0, shape[0] / shape[1]) ** 0.5
            for p, step_u in zip(ps, u, strict=True):
                cautious = (step_u * p >= 0).to(p.dtype)  # decay only where the update agrees
                p.sub_(lr * step_u + lr * wd * cautious * p)

    def lr_multiplier(progress):
        if progress < UP_WARMUP_RATIO:
            return (progress + 1e-3) / UP_WARMUP_RATIO
        if progress < 1.0 - UP_WARMDOWN_RATIO:
            return 1.0
        frac = (1.0 - progress) / UP_WARMDOWN_RATIO
        return frac + (1.0 - frac) * UP_FINAL_LR_FRAC

    accum = UP_TOTAL_BATCH // (UP_DEVICE_BATCH * T)
    autocast = cpu_autocast()
    print(
        f"upstream recipe: depth {n_layer}, dim {d}, heads {n_head}, windows {windows}, value embeds on "
        f"{ve_layers}, params {num_params:,}, batch {UP_TOTAL_BATCH} tokens "
        f"({UP_DEVICE_BATCH} x {T} x {accum}), precision {cpu_precision()}",
        flush=True,
    )
    loader = make_dataloader(tokenizer, UP_DEVICE_BATCH, T, "train", device="cpu")
    x, y, epoch = next(loader)
    step, training_time, last_print = 0, 0.0, 0.0
    while True:
        t0 = time.time()
        for _ in range(accum):
            with autocast:
                loss = model(x, y)
            (loss / accum).backward()
            x, y, epoch = next(loader)
        progress = min(training_time / budget, 1.0)
        optimizer_step(
            lr_multiplier(progress),
            0.85 + 0.10 * min(step / 300, 1.0),
            UP_WEIGHT_DECAY * (1 - progress),
            step + 1,
        )
        model.zero_grad(set_to_none=True)
        loss_value = loss.item()
        dt = time.time() - t0
        if not math.isfinite(loss_value) or loss_value > 100:
            print(f"FAIL: loss is {loss_value} at step {step}")
            sys.exit(1)
        if step > UP_UNCLOCKED_STEPS:
            training_time += dt
        step += 1
        done = step > UP_UNCLOCKED_STEPS and training_time >= budget
        if done or time.time() - last_print >= 5:
            last_print = time.time()
            print(
                f"step {step:05d} | loss {loss_value:.6f} | tokens {step * UP_TOTAL_BATCH} | "
                f"tok/s {UP_TOTAL_BATCH / dt:,.0f} | epoch {epoch}",
                flush=True,
            )
        if done:
            break
    model.eval()
    val_bpb = evaluate_bpb(model, tokenizer, 64)
    _summary_block(
        {
            "val_bpb": f"{val_bpb:.6f}",
            "training_seconds": f"{training_time:.1f}",
            "total_seconds": f"{time.time() - t_start:.1f}",
            "peak_vram_mb": "0.0",
            "peak_rss_mb": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}",
            "mfu_percent": "0.00",
            "total_tokens_M": f"{step * UP_TOTAL_BATCH / 1e6:.1f}",
            "num_steps": str(step),
            "num_params_M": f"{num_params / 1e6:.2f}",
            "depth": str(n_layer),
            "device": "cpu",
            "time_budget": str(budget),
        }
    )


def reference_params(depth: int, V: int, T: int, d: int = 128) -> int:
    per_block = 12 * d * d + 13 * d  # weights + biases + two LayerNorms
    return V * d + T * d + depth * per_block + 2 * d


def run(cmd: list[str], env: dict, log: Path | None = None) -> dict:
    from autoresearch.summary import parse_summary

    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    summary = parse_summary(proc.stdout)
    if proc.returncode != 0 or summary is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"quality.py: run failed ({' '.join(cmd)}): " + " | ".join(tail))
    summary["wall_seconds"] = time.time() - t0
    header = re.search(r"^params: ([\d.]+)M", proc.stdout, re.M)  # train.py's header has two decimals
    if header:
        summary["num_params_M"] = float(header.group(1))
    return summary


ARMS = ("baseline", "upstream", "gpt2")
LABELS = {
    "baseline": "baseline train.py (Muon + AdamW)",
    "upstream": "upstream recipe (VE, SSSL, MuonAdamW)",
    "gpt2": "GPT-2-style reference (AdamW)",
}


def _stats(vals: list[float]) -> tuple[float, float]:
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per arm (default 3)")
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="seconds of training per run (default: prepare.TIME_BUDGET = 300); a shorter budget is a "
        "screen only, never comparable with the README table",
    )
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"comma-separated arms to run, baseline always included (default {','.join(ARMS)})",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--logs", type=Path, metavar="DIR", help="keep each run's full output (progress lines) in DIR"
    )
    parser.add_argument("--train-reference", type=int, metavar="DEPTH", help=argparse.SUPPRESS)
    parser.add_argument("--train-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_reference:
        train_reference(args.train_reference)
        return 0
    if args.train_upstream:
        train_upstream()
        return 0
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    arms = ["baseline"] + [a for a in ARMS[1:] if a in arms]

    import prepare

    env = {**os.environ, "AUTORESEARCH_DEVICE": "cpu"}
    if args.budget:
        env[prepare.TIME_BUDGET_ENV] = str(args.budget)
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    ref_depth = None
    for i in range(args.repeats):
        for arm in arms:
            if arm == "baseline":
                cmd = [sys.executable, "train.py"]
            elif arm == "upstream":
                cmd = [sys.executable, "bench/quality.py", "--train-upstream"]
            else:
                if ref_depth is None:  # match the reference's parameter count to the baseline's
                    target = runs["baseline"][0]["num_params_M"] * 1e6
                    ref_depth = min(
                        range(1, 13),
                        key=lambda k: abs(
                            reference_params(k, prepare.VOCAB_SIZE, prepare.MAX_SEQ_LEN) - target
                        ),
                    )
                cmd = [sys.executable, "bench/quality.py", "--train-reference", str(ref_depth)]
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
            r = run(cmd, env, args.logs / f"{arm}.{i + 1}.log" if args.logs else None)
            r["tokens_per_s"] = r["total_tokens_M"] * 1e6 / max(r["training_seconds"], 1e-9)
            runs[arm].append(r)
            print(
                f"repeat {i + 1} {arm}: val_bpb {r['val_bpb']:.4f}, {r['total_tokens_M']:.1f}M tokens, "
                f"{r['num_steps']} steps, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )

    result: dict = {"budget_s": runs["baseline"][0]["time_budget"], "repeats": args.repeats, "arms": {}}
    for arm in arms:
        vals = [r["val_bpb"] for r in runs[arm]]
        mean, std = _stats(vals)
        result["arms"][arm] = {
            "runs": vals,
            "mean": mean,
            "std": std,
            "params_M": runs[arm][0]["num_params_M"],
            "tokens_M": [r["total_tokens_M"] for r in runs[arm]],
            "steps": [r["num_steps"] for r in runs[arm]],
            "tokens_per_s": [round(r["tokens_per_s"]) for r in runs[arm]],
        }
    base = result["arms"]["baseline"]
    result["margins"] = {}
    for arm in arms[1:]:
        other = result["arms"][arm]
        pooled = math.sqrt((base["std"] ** 2 + other["std"] ** 2) / 2)
        gap = other["mean"] - base["mean"]
        sigma = gap / pooled if pooled > 0 else float("nan")
        result["margins"][arm] = {
            "gap": gap,
            "pooled_sigma": pooled,
            "gap_in_sigma": sigma,
            "beats_by_3_sigma": bool(sigma >= 3) if sigma == sigma else None,
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"quality on the {prepare.PROFILE} profile, {result['budget_s']} s budget, "
        f"{args.repeats} interleaved repeats, CPU"
    )
    print()
    print("| model | params | val_bpb per run | mean ± std | tokens seen (M) | tokens/s |")
    print("|---|---|---|---|---|---|")
    for arm in arms:
        r = result["arms"][arm]
        vals = ", ".join(f"{v:.4f}" for v in r["runs"])
        toks = ", ".join(f"{v:.1f}" for v in r["tokens_M"])
        tps = ", ".join(f"{v:,}" for v in r["tokens_per_s"])
        print(
            f"| {LABELS[arm]} | {r['params_M']:.2f}M | {vals} | {r['mean']:.4f} ± {r['std']:.4f} | "
            f"{toks} | {tps} |"
        )
    print()
    for arm, m in result["margins"].items():
        print(
            f"baseline vs {arm}: margin {m['gap']:+.4f} bpb = {m['gap_in_sigma']:.1f} sigma of the pooled "
            f"run noise ({m['pooled_sigma']:.4f}); ahead by >= 3 sigma: "
            f"{'yes' if m['beats_by_3_sigma'] else 'no'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
