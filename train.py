"""
The baseline the agent improves: a small modern GPT trained for a fixed time budget, then scored by val_bpb.

    uv run train.py > run.log 2>&1 && grep "^val_bpb:" run.log

One file for CUDA (bf16 autocast, SDPA, torch.compile), Apple MPS and CPU (eager; bf16 autocast with fp32
attention where the CPU has bf16 matmuls, fp32 elsewhere).
AUTORESEARCH_DEVICE=cpu|cuda|mps overrides the device. The model and optimizer are scaled by the prepared
profile (see prepare.py) and the device. Everything in this file may change; prepare.py may not.
"""

import os

os.environ.setdefault("PYTORCH_ALLOC_CONF", "expandable_segments:True")
# Spinning OpenMP workers collapse CPU throughput (measured ~7x) whenever another process shares the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gc
import math
import resource
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import (
    MAX_SEQ_LEN,
    PROFILE,
    TIME_BUDGET,
    TIME_BUDGET_ENV,
    TRAIN_TOKENS,
    Tokenizer,
    cpu_has_bf16_matmul,
    evaluate_bpb,
    make_dataloader,
)

t_start = time.time()

# ----------------------------------------------------------------------------------------------------
# Device and budget


def pick_device() -> str:
    wanted = os.environ.get("AUTORESEARCH_DEVICE", "").strip().lower()
    if wanted:
        ok = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
        if wanted not in ok or not ok[wanted]:
            print(f"FAIL: AUTORESEARCH_DEVICE={wanted} is not available here (use cpu, cuda or mps)")
            sys.exit(1)
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


DEVICE = pick_device()
# prepare.TIME_BUDGET honours the test-only override, which makes a run non-comparable.
time_budget = TIME_BUDGET

# ----------------------------------------------------------------------------------------------------
# Hyperparameters, by profile and device. On CPU the game is tokens seen: small and fast wins.

# Each profile sets all of its own values, so an edit to one line changes the run it reads.
if DEVICE == "cuda" and PROFILE == "climbmix":
    DEPTH, MODEL_DIM, HEAD_DIM = 8, 512, 128
    DEVICE_BATCH_SIZE, TOTAL_BATCH_SIZE = 128, 2**19
    VALUE_EMBEDS = True
    EMBEDDING_LR = 0.05  # AdamW, token (and value) embeddings
    WARMUP_RATIO = 0.02  # fraction of the budget with a linear LR warm-up
    LOGIT_SOFTCAP = 15.0
    CHUNKED_HEAD = False  # torch.compile fuses the head on a GPU
    WEIGHT_DECAY = 0.0  # Muon weight decay, decays with progress
elif DEVICE in ("cuda", "mps"):  # the embedded corpus on a GPU: data-bound, see MAX_EPOCHS
    DEPTH, MODEL_DIM, HEAD_DIM = 6, 384, 64
    DEVICE_BATCH_SIZE, TOTAL_BATCH_SIZE = 128, 128 * MAX_SEQ_LEN
    VALUE_EMBEDS = True
    EMBEDDING_LR = 0.05
    WARMUP_RATIO = 0.02
    LOGIT_SOFTCAP = 15.0
    CHUNKED_HEAD = False
    WEIGHT_DECAY = 0.0
else:  # CPU, measured against upstream's recipe in docs/quality.md
    DEPTH, MODEL_DIM, HEAD_DIM = 3, 128, 32
    DEVICE_BATCH_SIZE, TOTAL_BATCH_SIZE = 128, 128 * MAX_SEQ_LEN  # big steps: a step's fixed cost dominates
    VALUE_EMBEDS = True
    EMBEDDING_LR = 0.6
    WARMUP_RATIO = 0.0  # a time-based warm-up ran the first steps at 5 % of the peak LR
    LOGIT_SOFTCAP = 0.0  # tanh over the [B*T, vocab] logits was ~30 % of a CPU step
    CHUNKED_HEAD = True  # the full logits' memory traffic was the biggest cost left in a CPU step
    WEIGHT_DECAY = 0.2  # ~5 passes over the corpus in the budget: repetition, so decay pays

# Stop after this many passes over the training split, even with budget left. The embedded corpus is
# ~1.6M tokens and a GPU passes it every second. On an H200 (depth 6): 2 epochs gave val_bpb 1.730,
# 4 gave 1.705, 8 gave 2.133, and the whole budget (243 epochs) 4.198. A 2-core CPU passes ~4 epochs, and
# there the budget binds: a cap reached first makes the schedule token-based and every run of a commit
# identical, which hides from the keep rule the noise of the runs that the budget does bind.
MAX_EPOCHS = 4 if PROFILE == "embedded" and DEVICE != "cpu" else None
UNEMBEDDING_LR = 0.008  # AdamW, lm_head
SCALAR_LR = 0.02  # AdamW, per-layer residual scalars and value-embedding gates
MATRIX_LR = 0.04  # Muon, 2-D block matrices
ADAM_BETAS = (0.8, 0.95)
WARMDOWN_RATIO = 0.5  # fraction of the budget with a linear LR decay at the end
FINAL_LR_FRAC = 0.0
# Steps 0..WARMUP_STEPS are not clocked: torch.compile's warm-up on a GPU. A CPU compiles nothing, so its
# unclocked steps would only be free training outside the budget.
WARMUP_STEPS = 1 if DEVICE == "cpu" else 10
EVAL_BATCH_SIZE = DEVICE_BATCH_SIZE
SEED = 42

# ----------------------------------------------------------------------------------------------------
# Model


@dataclass
class GPTConfig:
    vocab_size: int
    sequence_len: int
    n_layer: int
    n_embd: int
    head_dim: int
    value_embeds: bool
    softcap: float
    chunked_head: bool  # training loss through LinearCrossEntropy (below) instead of full logits


def rms_norm(x):
    return F.rms_norm(x, (x.size(-1),))


def apply_rotary(x, cos, sin):
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, has_ve: bool):
        super().__init__()
        self.n_head = cfg.n_embd // cfg.head_dim
        self.head_dim = cfg.head_dim
        self.c_q = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_k = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_v = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.ve_gate = nn.Linear(min(32, cfg.n_embd), self.n_head, bias=False) if has_ve else None

    def forward(self, x, ve, cos, sin):
        B, T, C = x.shape
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim)
        k = self.c_k(x).view(B, T, self.n_head, self.head_dim)
        v = self.c_v(x).view(B, T, self.n_head, self.head_dim)
        if ve is not None:  # value embeddings (ResFormer-style), mixed in by a per-head gate
            gate = 2 * torch.sigmoid(self.ve_gate(x[..., : self.ve_gate.in_features]))
            v = v + gate.unsqueeze(-1) * ve.view(B, T, self.n_head, self.head_dim)
        q, k = rms_norm(apply_rotary(q, cos, sin)), rms_norm(apply_rotary(k, cos, sin))  # QK-norm
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if torch.is_autocast_enabled("cpu"):  # CPU flash attention's bf16 backward was 5x its fp32 one
            with torch.autocast("cpu", enabled=False):
                y = self.attend(q.float(), k.float(), v.float())
        else:
            y = self.attend(q, k, v)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    @staticmethod
    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(F.relu(self.c_fc(x)).square())  # ReLU^2


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, has_ve: bool):
        super().__init__()
        self.attn = Attention(cfg, has_ve)
        self.mlp = MLP(cfg)

    def forward(self, x, ve, cos, sin):
        x = x + self.attn(rms_norm(x), ve, cos, sin)
        return x + self.mlp(rms_norm(x))


class LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of h @ weight.T against targets (-1 = ignored), HEAD_CHUNK_ROWS rows at a time,
    gradients computed in the forward pass. The [B*T, vocab] logits never exist whole: on a CPU their fp32
    copies, fills and log-softmax passes were most of a step's memory traffic (head 212 -> 76 ms a step).
    The same maths as F.cross_entropy on the logits (all targets ignored: 0, not NaN), in the autocast
    dtype when autocast is on."""

    @staticmethod
    def forward(ctx, h, weight, targets, softcap):
        on = torch.is_autocast_enabled(h.device.type)
        dtype = torch.get_autocast_dtype(h.device.type) if on else h.dtype
        with torch.autocast(h.device.type, enabled=False):
            hs, w = h.detach().to(dtype), weight.detach().to(dtype)
            count = (targets != -1).sum().clamp_min(1)
            loss = torch.zeros((), dtype=torch.float32, device=h.device)
            grad_h = torch.empty_like(h)
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device)
            for start in range(0, h.size(0), HEAD_CHUNK_ROWS):
                rows = slice(start, start + HEAD_CHUNK_ROWS)
                hc, t = hs[rows], targets[rows]
                keep, t = (t != -1).unsqueeze(1), t.clamp_min(0).unsqueeze(1)
                z = (hc @ w.T).float()
                if softcap:
                    squashed = torch.tanh(z / softcap)
                    z = softcap * squashed
                lse = torch.logsumexp(z, dim=-1, keepdim=True)
                loss += ((lse - z.gather(1, t)) * keep).sum()
                g = torch.exp_(z - lse)  # softmax; minus one at the target, over the token count
                g.scatter_add_(1, t, torch.full_like(lse, -1.0)).mul_(keep / count)
                if softcap:
                    g.mul_(1 - squashed.square())
                g = g.to(dtype)
                grad_h[rows] = g @ w
                grad_w += (g.T @ hc).float()
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return loss / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_loss, grad_w * grad_loss, None, None


HEAD_CHUNK_ROWS = 1024  # 1024 x 2048 fp32 logits = 8 MB: fastest of 256..4096 on the 2-core CPU


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        # value embeddings on alternating layers, always including the last
        self.ve_layers = (
            [i for i in range(cfg.n_layer) if (cfg.n_layer - 1 - i) % 2 == 0] if cfg.value_embeds else []
        )
        self.value_embeds = nn.ModuleDict(
            {str(i): nn.Embedding(cfg.vocab_size, cfg.n_embd) for i in self.ve_layers}
        )
        self.blocks = nn.ModuleList([Block(cfg, i in self.ve_layers) for i in range(cfg.n_layer)])
        self.resid_lambdas = nn.Parameter(torch.ones(cfg.n_layer))
        self.x0_lambdas = nn.Parameter(torch.full((cfg.n_layer,), 0.1))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        cos, sin = self._rotary(cfg.sequence_len, cfg.head_dim)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.init_weights()

    @staticmethod
    def _rotary(seq_len, head_dim, base=10000.0):
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
        return freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]

    @torch.no_grad()
    def init_weights(self):
        s = 3**0.5 / self.cfg.n_embd**0.5
        nn.init.normal_(self.wte.weight, std=1.0)
        for emb in self.value_embeds.values():
            nn.init.uniform_(emb.weight, -s, s)
        nn.init.normal_(self.lm_head.weight, std=0.001)
        for block in self.blocks:
            for lin in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.c_fc):
                nn.init.uniform_(lin.weight, -s, s)
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)
            if block.attn.ve_gate is not None:
                nn.init.zeros_(block.attn.ve_gate.weight)

    def forward(self, idx, targets=None, reduction="mean"):
        B, T = idx.shape
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        x = x0 = rms_norm(self.wte(idx))
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            ve = self.value_embeds[str(i)](idx) if str(i) in self.value_embeds else None
            x = block(x, ve, cos, sin)
        if targets is not None and reduction == "mean" and self.cfg.chunked_head:
            h = rms_norm(x).flatten(0, 1)
            return LinearCrossEntropy.apply(h, self.lm_head.weight, targets.reshape(-1), self.cfg.softcap)
        logits = self.lm_head(rms_norm(x)).float()
        if self.cfg.softcap:
            logits = self.cfg.softcap * torch.tanh(logits / self.cfg.softcap)
        if targets is None:
            return logits
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1, reduction=reduction
        )

    def flops_per_token(self) -> float:
        """FLOPs per token: 6 x matmul params (lookups are free) + 12 x layers x width x seq (as upstream)."""
        n = sum(p.numel() for p in self.parameters()) - self.wte.weight.numel()
        n -= sum(e.weight.numel() for e in self.value_embeds.values())
        return 6 * n + 12 * self.cfg.n_layer * self.cfg.n_embd * self.cfg.sequence_len


# ----------------------------------------------------------------------------------------------------
# Optimizer: Muon for the 2-D block matrices, AdamW for everything else


def zeropower_via_newtonschulz5(G, steps: int = 5):
    """Approximately orthogonalise G (quintic Newton-Schulz iteration, Keller Jordan's coefficients)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.bfloat16() if G.is_cuda else G.float()
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        X = a * X + (b * A + c * A @ A) @ X
    if transposed:
        X = X.mT
    return X.to(G.dtype)


class Muon:
    """SGD-momentum (Nesterov) with an orthogonalised update; same-shape matrices are processed as one batch.

    Plain classes instead of torch.optim: torch.optim imports torch._dynamo, which imports triton, whose
    bindings print hundreds of leak warnings at exit into run.log on this CUDA build of torch."""

    def __init__(self, params, lr=0.02, momentum=0.95, weight_decay=0.0):
        self.param_groups = [dict(params=list(params), lr=lr, momentum=momentum, weight_decay=weight_decay)]
        self.state = {}

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            by_shape = {}
            for p in group["params"]:
                if p.grad is not None:
                    by_shape.setdefault(p.shape, []).append(p)
            for shape, params in by_shape.items():
                key = (id(group), shape)
                grads = torch.stack([p.grad for p in params])
                if key not in self.state:
                    self.state[key] = torch.zeros_like(grads)
                buf = self.state[key].lerp_(grads, 1 - group["momentum"])
                update = zeropower_via_newtonschulz5(grads.lerp_(buf, group["momentum"]))
                lr = group["lr"] * max(1.0, shape[0] / shape[1]) ** 0.5
                for p, u in zip(params, update, strict=True):
                    if group["weight_decay"]:
                        p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.add_(u, alpha=-lr)


class AdamW:
    """Adam with decoupled weight decay, per parameter group (embeddings, head, scalars)."""

    def __init__(self, groups, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.0):
        self.param_groups = [dict(weight_decay=weight_decay, **g) for g in groups]
        self.betas, self.eps, self.t = betas, eps, 0
        self.state = {}

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p not in self.state:
                    self.state[p] = (torch.zeros_like(p), torch.zeros_like(p))
                m, v = self.state[p]
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2**self.t)).sqrt_().add_(self.eps)
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - b1**self.t))


def build_optimizers(model: GPT):
    matrices = [
        p for b in model.blocks for n, p in b.named_parameters() if p.ndim == 2 and "ve_gate" not in n
    ]
    gates = [p for b in model.blocks for n, p in b.named_parameters() if "ve_gate" in n]
    embeds = [model.wte.weight, *[e.weight for e in model.value_embeds.values()]]
    scalars = [model.resid_lambdas, model.x0_lambdas, *gates]
    adam_groups = [
        dict(params=embeds, lr=EMBEDDING_LR),
        dict(params=[model.lm_head.weight], lr=UNEMBEDDING_LR),
        dict(params=scalars, lr=SCALAR_LR),
    ]
    adam = AdamW(adam_groups, betas=ADAM_BETAS, eps=1e-10)
    muon = Muon(matrices, lr=MATRIX_LR, momentum=0.95, weight_decay=WEIGHT_DECAY)
    assert sum(p.numel() for g in adam_groups for p in g["params"]) + sum(p.numel() for p in matrices) == sum(
        p.numel() for p in model.parameters()
    )
    for opt in (adam, muon):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return adam, muon


def lr_multiplier(progress: float) -> float:
    if progress < WARMUP_RATIO:
        return (progress + 1e-3) / WARMUP_RATIO
    if progress < 1.0 - WARMDOWN_RATIO:
        return 1.0
    frac = (1.0 - progress) / WARMDOWN_RATIO
    return frac + (1.0 - frac) * FINAL_LR_FRAC


# ----------------------------------------------------------------------------------------------------
# Setup

torch.manual_seed(SEED)
if DEVICE == "cpu":
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads))
if DEVICE == "cuda":
    torch.cuda.manual_seed(SEED)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

tokenizer = Tokenizer.from_directory()
vocab_size = tokenizer.get_vocab_size()
config = GPTConfig(
    vocab_size=vocab_size,
    sequence_len=MAX_SEQ_LEN,
    n_layer=DEPTH,
    n_embd=MODEL_DIM,
    head_dim=HEAD_DIM,
    value_embeds=VALUE_EMBEDS,
    softcap=LOGIT_SOFTCAP,
    chunked_head=CHUNKED_HEAD,
)
model = GPT(config).to(DEVICE)
num_params = sum(p.numel() for p in model.parameters())
flops_per_token = model.flops_per_token()
assert TOTAL_BATCH_SIZE % (DEVICE_BATCH_SIZE * MAX_SEQ_LEN) == 0
grad_accum_steps = TOTAL_BATCH_SIZE // (DEVICE_BATCH_SIZE * MAX_SEQ_LEN)
adam, muon = build_optimizers(model)
train_model = torch.compile(model, dynamic=False) if DEVICE == "cuda" else model
USE_BF16 = DEVICE == "cuda" or (DEVICE == "cpu" and cpu_has_bf16_matmul())
autocast = torch.autocast("cuda" if DEVICE == "cuda" else "cpu", dtype=torch.bfloat16, enabled=USE_BF16)
PEAK_FLOPS = {
    "H100": 989.5e12,
    "H200": 989.5e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165.2e12,
}
peak_flops = 0.0
if DEVICE == "cuda":
    name = torch.cuda.get_device_name()
    peak_flops = next((v for k, v in PEAK_FLOPS.items() if k in name), 0.0)


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    elif DEVICE == "mps":
        torch.mps.synchronize()


print(
    f"device: {DEVICE}  profile: {PROFILE}  threads: {torch.get_num_threads()}  "
    f"precision: {'bf16 autocast' if USE_BF16 else 'fp32'}"
)
print(
    f"vocab: {vocab_size}  seq: {MAX_SEQ_LEN}  model: depth {DEPTH}, dim {MODEL_DIM}, "
    f"head_dim {HEAD_DIM}, value embeds {VALUE_EMBEDS}"
)
print(f"params: {num_params / 1e6:.2f}M  flops/token: {flops_per_token:.3e}")
print(f"batch: {TOTAL_BATCH_SIZE} tokens/step ({DEVICE_BATCH_SIZE} x {MAX_SEQ_LEN} x {grad_accum_steps})")
print(
    f"time budget: {time_budget}s"
    + ("  (test override: not comparable)" if os.environ.get(TIME_BUDGET_ENV) else "")
)
sys.stdout.flush()

# ----------------------------------------------------------------------------------------------------
# Training loop: the budget counts only synchronised step time after the first WARMUP_STEPS steps

loader = make_dataloader(tokenizer, DEVICE_BATCH_SIZE, MAX_SEQ_LEN, "train", device=DEVICE)
x, y, epoch = next(loader)
token_cap = MAX_EPOCHS * TRAIN_TOKENS if MAX_EPOCHS and TRAIN_TOKENS else None
step = 0
training_time = 0.0
smooth_loss = 0.0
last_print = 0.0
while True:
    sync()
    t0 = time.time()
    for _ in range(grad_accum_steps):
        with autocast:
            loss = train_model(x, y)
        (loss / grad_accum_steps).backward()
        x, y, epoch = next(loader)
    # progress toward whichever limit binds first, so the LR warm-down ends where training does
    progress = training_time / time_budget
    if token_cap:
        progress = max(progress, step * TOTAL_BATCH_SIZE / token_cap)
    progress = min(progress, 1.0)
    lrm = lr_multiplier(progress)
    for opt in (adam, muon):
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * lrm
    muon.param_groups[0]["momentum"] = 0.85 + 0.10 * min(step / 300, 1.0)
    muon.param_groups[0]["weight_decay"] = WEIGHT_DECAY * (1 - progress)
    adam.step()
    muon.step()
    model.zero_grad(set_to_none=True)
    loss_value = loss.item()  # also synchronises
    sync()
    dt = time.time() - t0
    if not math.isfinite(loss_value) or loss_value > 100:
        print(f"FAIL: loss is {loss_value} at step {step}")
        sys.exit(1)
    if step > WARMUP_STEPS:
        training_time += dt
    if step == 0:
        gc.collect()
        gc.freeze()
        gc.disable()  # Python's GC causes ~500 ms stalls; collect by hand instead
    elif step % 5000 == 0:
        gc.collect()
    smooth_loss = 0.9 * smooth_loss + 0.1 * loss_value
    step += 1
    done = step > WARMUP_STEPS and (
        training_time >= time_budget or (token_cap is not None and step * TOTAL_BATCH_SIZE >= token_cap)
    )
    now = time.time()
    if done or now - last_print >= 5 or step <= 3:
        last_print = now
        debiased = smooth_loss / (1 - 0.9**step)
        tok_s = TOTAL_BATCH_SIZE / dt
        mfu = 100 * flops_per_token * tok_s / peak_flops if peak_flops else 0.0
        left = max(0.0, time_budget - training_time)
        print(
            f"step {step:05d} ({100 * progress:.1f}%) | loss {debiased:.6f} | lr {lrm:.3f} | "
            f"dt {dt * 1000:.0f}ms | "
            f"tok/s {tok_s:,.0f} | mfu {mfu:.2f}% | epoch {epoch} | left {left:.0f}s",
            flush=True,
        )
    if done:
        break

total_tokens = step * TOTAL_BATCH_SIZE
clocked_steps = step - WARMUP_STEPS - 1
tokens_per_second = clocked_steps * TOTAL_BATCH_SIZE / training_time if training_time > 0 else 0.0

model.eval()
with autocast if DEVICE == "cuda" else torch.autocast("cpu", enabled=False):  # as the runner scores it
    val_bpb = evaluate_bpb(model, tokenizer, EVAL_BATCH_SIZE)
if not math.isfinite(val_bpb):
    print(f"FAIL: val_bpb is {val_bpb}")
    sys.exit(1)

if DEVICE == "cuda":
    peak_vram_mb = torch.cuda.max_memory_allocated() / 2**20
elif DEVICE == "mps":
    peak_vram_mb = torch.mps.driver_allocated_memory() / 2**20
else:
    peak_vram_mb = 0.0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak_rss_mb = rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux
mfu_percent = 100 * flops_per_token * tokens_per_second / peak_flops if peak_flops else 0.0

summary = {
    "val_bpb": f"{val_bpb:.6f}",
    "training_seconds": f"{training_time:.1f}",
    "total_seconds": f"{time.time() - t_start:.1f}",
    "peak_vram_mb": f"{peak_vram_mb:.1f}",
    "peak_rss_mb": f"{peak_rss_mb:.1f}",
    "mfu_percent": f"{mfu_percent:.2f}",
    "total_tokens_M": f"{total_tokens / 1e6:.1f}",
    "num_steps": f"{step}",
    "epochs": f"{total_tokens / max(TRAIN_TOKENS, 1):.2f}",
    "num_params_M": f"{num_params / 1e6:.1f}",
    "depth": f"{DEPTH}",
    "device": DEVICE,
    "time_budget": f"{time_budget}",
}
print("---")
for key, value in summary.items():
    print(f"{key + ':':<18}{value}")
