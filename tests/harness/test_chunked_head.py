"""train.py's LinearCrossEntropy (the CPU profile's training head) gives F.cross_entropy's loss and gradients.

The class is taken from train.py's own source (train.py is a script, so it cannot be imported), and compared
with the full-logits path it replaces: lm_head, then cross-entropy with ignore_index=-1 and a mean."""

from __future__ import annotations

import ast

import pytest
import torch
import torch.nn.functional as F
from harness_helpers import REPO_ROOT

TRAIN = REPO_ROOT / "train.py"
DEFINITIONS = ("LinearCrossEntropy", "HEAD_CHUNK_ROWS")


def _train_definitions() -> dict:
    tree = ast.parse(TRAIN.read_text())
    nodes = [
        node
        for node in tree.body
        if getattr(node, "name", None) in DEFINITIONS
        or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in DEFINITIONS for t in node.targets))
    ]
    assert len(nodes) == len(DEFINITIONS), "train.py no longer defines " + ", ".join(DEFINITIONS)
    namespace = {"torch": torch}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(TRAIN), "exec"), namespace)
    return namespace


DEFS = _train_definitions()
CHUNK = DEFS["HEAD_CHUNK_ROWS"]


def _case(rows: int, ignored: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, 64, generator=g)
    weight = torch.randn(300, 64, generator=g) * 0.3
    targets = torch.randint(0, 300, (rows,), generator=g)
    targets[torch.randperm(rows, generator=g)[:ignored]] = -1
    return h, weight, targets


def _reference(h, weight, targets, softcap):
    logits = F.linear(h, weight).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    return F.cross_entropy(logits, targets, ignore_index=-1)


def _loss_and_grads(fn, h, weight, targets, softcap, scale=1.0):
    h, weight = h.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = fn(h, weight, targets, softcap)
    (loss * scale).backward()
    return loss.detach(), h.grad, weight.grad


def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("softcap", [0.0, 15.0])
def test_fp32_matches_full_logits_across_chunk_edges_and_ignored_targets(softcap):
    h, weight, targets = _case(rows=2 * CHUNK + 37, ignored=50)  # two full chunks and a ragged one
    h = h * 4  # logits large enough for the soft-cap to bend them
    ours = _loss_and_grads(DEFS["LinearCrossEntropy"].apply, h, weight, targets, softcap)
    ref = _loss_and_grads(_reference, h, weight, targets, softcap)
    assert torch.allclose(ours[0], ref[0], rtol=1e-5), (ours[0], ref[0])
    assert _rel(ours[1], ref[1]) < 1e-5 and _rel(ours[2], ref[2]) < 1e-5
    ignored_rows = targets == -1
    assert ours[1][~ignored_rows].abs().sum() > 0


def test_bf16_autocast_matches_the_autocast_path():
    h, weight, targets = _case(rows=CHUNK + 5, ignored=0, seed=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = _loss_and_grads(DEFS["LinearCrossEntropy"].apply, h, weight, targets, 0.0)
        ref = _loss_and_grads(_reference, h, weight, targets, 0.0)
    assert ours[1].dtype == h.dtype and ours[2].dtype == weight.dtype
    assert abs(ours[0].item() - ref[0].item()) < 1e-3 * ref[0].item()
    assert _rel(ours[1], ref[1]) < 2e-2 and _rel(ours[2], ref[2]) < 2e-2


def test_backward_scales_with_the_incoming_gradient():
    """train.py backpropagates loss / grad_accum_steps: the stored gradients must follow that factor."""
    h, weight, targets = _case(rows=100, ignored=3, seed=2)
    _, gh1, gw1 = _loss_and_grads(DEFS["LinearCrossEntropy"].apply, h, weight, targets, 0.0)
    _, gh4, gw4 = _loss_and_grads(DEFS["LinearCrossEntropy"].apply, h, weight, targets, 0.0, scale=0.25)
    assert torch.allclose(gh4, gh1 * 0.25, rtol=1e-6) and torch.allclose(gw4, gw1 * 0.25, rtol=1e-6)


def test_all_targets_ignored_gives_zero_loss_and_gradients():
    h, weight, targets = _case(rows=10, ignored=10, seed=3)
    loss, gh, gw = _loss_and_grads(DEFS["LinearCrossEntropy"].apply, h, weight, targets, 0.0)
    assert loss.item() == 0.0 and gh.abs().sum() == 0 and gw.abs().sum() == 0
