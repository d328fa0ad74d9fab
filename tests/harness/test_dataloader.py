"""Dataloader: BOS-aligned best-fit packing with no padding, deterministic, upstream-shaped batches."""

from __future__ import annotations

import numpy as np
import torch


def _find_in(haystack: bytes, needle: bytes) -> bool:
    """needle occurs in haystack at an even offset (uint16 alignment)."""
    start = haystack.find(needle)
    while start != -1:
        if start % 2 == 0:
            return True
        start = haystack.find(needle, start + 1)
    return False


def test_batches_have_upstream_shape(prep):
    tok = prep.Tokenizer.from_directory()
    x, y, epoch = next(prep.make_dataloader(tok, 8, prep.MAX_SEQ_LEN, "train"))
    assert x.shape == y.shape == (8, prep.MAX_SEQ_LEN)
    assert x.dtype == y.dtype == torch.int64 and x.device.type == "cpu"
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
    assert epoch == 1


def test_batches_are_contiguous_so_upstream_view_works(prep):
    """Upstream's model calls targets.view(-1): slices of one [B, T + 1] buffer would raise there."""
    tok = prep.Tokenizer.from_directory()
    loader = prep.make_dataloader(tok, 8, prep.MAX_SEQ_LEN, "train")
    for _ in range(3):
        x, y, _ = next(loader)
        assert x.is_contiguous() and y.is_contiguous()
        assert x.view(-1).numel() == y.view(-1).numel() == 8 * prep.MAX_SEQ_LEN


def test_eval_hands_the_model_contiguous_inputs(prep):
    import torch.nn as nn

    tok = prep.Tokenizer.from_directory()

    class ViewsInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(()))

        def forward(self, idx, targets=None):
            flat = idx.view(-1)  # raises on a non-contiguous tensor
            return torch.zeros(*idx.shape, prep.VOCAB_SIZE) + self.p + 0 * flat[0]

    assert prep.evaluate_bpb(ViewsInputs(), tok, 16) > 0


def test_every_row_starts_with_bos_and_holds_only_real_text(prep, embedded_cache):
    tok = prep.Tokenizer.from_directory()
    bos = tok.get_bos_token_id()
    corpus = {
        s: np.load(embedded_cache / "tokens" / f"{s}.npy").astype(np.uint16).tobytes()
        for s in ("train", "val")
    }
    for split in ("train", "val"):
        loader = prep.make_dataloader(tok, 16, prep.MAX_SEQ_LEN, split)
        for _ in range(6):
            x, y, _ = next(loader)
            rows = torch.cat([x, y[:, -1:]], dim=1).numpy()
            assert (rows[:, 0] == bos).all()
            assert rows.min() >= 0 and rows.max() < prep.VOCAB_SIZE
            # no padding: between BOS markers each segment is a contiguous piece of a document of this split
            for row in rows:
                cuts = np.flatnonzero(row == bos)
                for a, b in zip(cuts, [*cuts[1:], len(row)], strict=True):
                    segment = row[a + 1 : b].astype(np.uint16).tobytes()
                    if segment:
                        assert _find_in(corpus[split], segment), f"{split} row holds text not in the split"


def test_packing_keeps_the_whole_text(prep):
    """Cropped remainders come back behind a fresh BOS: packing one pass of the val docs loses no token."""
    tok = prep.Tokenizer.from_directory()
    bos = tok.get_bos_token_id()
    manifest = prep._require_cache()
    epoch1 = []
    for doc, epoch in prep._documents(manifest, "val", bos):
        if epoch > 1:
            break
        epoch1.append(doc)
    text_tokens = sum(len(d) - 1 for d in epoch1)
    packer = prep._RowPacker(iter([(d, 1) for d in epoch1]), 65, bos, buffer_size=8)
    row = np.empty(65, dtype=np.int64)
    placed, full_rows = 0, 0
    while (filled := packer.next_row(row)) == 65:
        assert row[0] == bos
        placed += int((row != bos).sum())
        full_rows += 1
    placed += int((row[:filled] != bos).sum())
    assert placed == text_tokens
    assert full_rows >= text_tokens // 65


def test_loaders_are_deterministic(prep):
    tok = prep.Tokenizer.from_directory()
    for split in ("train", "val"):
        a = prep.make_dataloader(tok, 4, prep.MAX_SEQ_LEN, split)
        b = prep.make_dataloader(tok, 4, prep.MAX_SEQ_LEN, split)
        for _ in range(3):
            xa, ya, _ = next(a)
            xb, yb, _ = next(b)
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_rows_do_not_depend_on_batch_size(prep):
    tok = prep.Tokenizer.from_directory()
    x4 = torch.cat([next(prep.make_dataloader(tok, 4, 64, "val"))[0]])
    loader = prep.make_dataloader(tok, 1, 64, "val")
    x1 = torch.cat([next(loader)[0] for _ in range(4)])
    assert torch.equal(x4, x1)


def test_held_batch_survives_the_next_one(prep):
    tok = prep.Tokenizer.from_directory()
    loader = prep.make_dataloader(tok, 2, 32, "train")
    x, _, _ = next(loader)
    copy = x.clone()
    next(loader)
    next(loader)
    assert torch.equal(x, copy)


def test_bad_split_is_a_clear_error(prep):
    tok = prep.Tokenizer.from_directory()
    try:
        next(prep.make_dataloader(tok, 2, 32, "test"))
    except ValueError as exc:
        assert "split must be" in str(exc)
    else:
        raise AssertionError("expected ValueError")
