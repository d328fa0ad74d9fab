"""
The living definition of "upstream-compatible": a train.py in the shape of karpathy/autoresearch's.

Written for this project (not a copy of upstream's file). It uses exactly what an upstream train.py uses:
a top-level script, a global `model`, `forward(idx, targets=None, reduction=...)` with `.view(-1)` on the
targets (which needs contiguous batches), upstream's loader and eval calls, TIME_BUDGET from prepare, and
upstream's summary block. tests/harness/test_upstream_compat.py trains it for a few seconds and scores it.
"""

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import MAX_SEQ_LEN, TIME_BUDGET, Tokenizer, evaluate_bpb, make_dataloader

t_start = time.time()
torch.manual_seed(42)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
autocast_ctx = (
    torch.amp.autocast(device_type="cuda", dtype=torch.bfloat16)
    if device.type == "cuda"
    else torch.autocast("cpu", enabled=False)
)

DEPTH = 2
N_EMBD = 64
N_HEAD = 2
DEVICE_BATCH_SIZE = 8
LEARNING_RATE = 3e-3


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
        self.proj = nn.Linear(N_EMBD, N_EMBD, bias=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = CausalSelfAttention()
        self.mlp = nn.Sequential(
            nn.Linear(N_EMBD, 4 * N_EMBD, bias=False), nn.GELU(), nn.Linear(4 * N_EMBD, N_EMBD, bias=False)
        )

    def forward(self, x):
        x = x + self.attn(F.rms_norm(x, (x.size(-1),)))
        return x + self.mlp(F.rms_norm(x, (x.size(-1),)))


class GPT(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, N_EMBD)
        self.wpe = nn.Embedding(MAX_SEQ_LEN, N_EMBD)
        self.blocks = nn.ModuleList([Block() for _ in range(DEPTH)])
        self.lm_head = nn.Linear(N_EMBD, vocab_size, bias=False)

    def forward(self, idx, targets=None, reduction="mean"):
        B, T = idx.size()
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(F.rms_norm(x, (x.size(-1),))).float()
        if targets is not None:
            # upstream's exact call: .view(-1) fails on a non-contiguous targets tensor
            return F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1, reduction=reduction
            )
        return logits


tokenizer = Tokenizer.from_directory()
model = GPT(tokenizer.get_vocab_size()).to(device)
num_params = sum(p.numel() for p in model.parameters())
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95))
if device.type == "cuda":
    model = torch.compile(model, dynamic=False)
print(f"Vocab size: {tokenizer.get_vocab_size():,}")
print(f"Time budget: {TIME_BUDGET}s")

train_loader = make_dataloader(tokenizer, DEVICE_BATCH_SIZE, MAX_SEQ_LEN, "train")
x, y, epoch = next(train_loader)
step, total_training_time, smooth = 0, 0.0, 0.0
while True:
    t0 = time.time()
    with autocast_ctx:
        loss = model(x, y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    x, y, epoch = next(train_loader)
    loss_f = loss.item()
    if math.isnan(loss_f) or loss_f > 100:
        print("FAIL")
        raise SystemExit(1)
    dt = time.time() - t0
    if step > 2:
        total_training_time += dt
    smooth = 0.9 * smooth + 0.1 * loss_f
    step += 1
    print(f"step {step:05d} | loss {smooth / (1 - 0.9**step):.6f} | dt {dt * 1000:.0f}ms | epoch {epoch}")
    if step > 2 and total_training_time >= TIME_BUDGET:
        break

model.eval()
with autocast_ctx:
    val_bpb = evaluate_bpb(model, tokenizer, DEVICE_BATCH_SIZE)

peak_vram_mb = torch.cuda.max_memory_allocated() / 1024 / 1024 if device.type == "cuda" else 0.0
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {total_training_time:.1f}")
print(f"total_seconds:    {time.time() - t_start:.1f}")
print(f"peak_vram_mb:     {peak_vram_mb:.1f}")
print(f"mfu_percent:      {0.0:.2f}")
print(f"total_tokens_M:   {step * DEVICE_BATCH_SIZE * MAX_SEQ_LEN / 1e6:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_M:     {num_params / 1e6:.1f}")
print(f"depth:            {DEPTH}")
