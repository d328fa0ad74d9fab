"""Tokenizer: round trip, token_bytes, special tokens and the digit-group split."""

from __future__ import annotations

import numpy as np
import torch

SAMPLES = [
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
    "Numbers 1234567 and 3.14159, dates 1599-1601.",
    "Unicode: naïve café, 你好世界, emoji 🎭🗡️, tabs\tand\r\nCRLF.",
    "",
]


def test_round_trip_and_vocab(prep):
    tok = prep.Tokenizer.from_directory()
    assert tok.get_vocab_size() == prep.VOCAB_SIZE == 2048
    for text in SAMPLES:
        assert tok.decode(tok.encode(text)) == text
    ids = tok.encode(SAMPLES[0], prepend=tok.get_bos_token_id())
    assert ids[0] == tok.get_bos_token_id() and tok.decode(ids[1:]) == SAMPLES[0]
    batch = tok.encode(SAMPLES, prepend=prep.BOS_TOKEN)
    assert [tok.decode(ids[1:]) for ids in batch] == SAMPLES
    # ordinary text never produces a special token, even when it spells one
    assert tok.get_bos_token_id() not in tok.encode("<|reserved_0|>")


def test_token_bytes_counts_raw_utf8_bytes(prep):
    tok = prep.Tokenizer.from_directory()
    token_bytes = prep.get_token_bytes("cpu")
    assert token_bytes.dtype == torch.int32 and token_bytes.shape == (prep.VOCAB_SIZE,)
    specials = [tok.enc.encode_single_token(name) for name in prep.SPECIAL_TOKENS]
    assert specials == list(range(prep.VOCAB_SIZE - 4, prep.VOCAB_SIZE))
    assert token_bytes[specials].tolist() == [0, 0, 0, 0]
    assert (token_bytes[: prep.VOCAB_SIZE - 4] >= 1).all()
    for (
        text
    ) in SAMPLES:  # summing per-token bytes gives the exact UTF-8 length, multibyte characters included
        ids = tok.encode(text)
        assert int(token_bytes[ids].sum()) == len(text.encode("utf-8"))
    for i in range(256):  # the byte-level base vocabulary
        assert token_bytes[i] == 1


def test_digits_split_into_groups_of_at_most_two(prep):
    tok = prep.Tokenizer.from_directory()
    for ids in [tok.encode("12345678"), tok.encode("year 1599")]:
        pieces = [tok.enc.decode_single_token_bytes(i).decode() for i in ids]
        assert all(sum(ch.isdigit() for ch in piece) <= 2 for piece in pieces)


def test_pretokenised_splits_decode_to_the_corpus(prep, embedded_cache):
    """The uint16 token files hold BOS-separated documents that decode back to the corpus text."""
    tok = prep.Tokenizer.from_directory()
    train_docs, val_docs, test_docs, works = prep.shakespeare_documents(
        str(embedded_cache / "downloads" / prep.SHAKESPEARE["filename"])
    )
    assert len(works) == 42 and not any(w.endswith("_f") for w in works)
    total = len(train_docs) + len(val_docs) + len(test_docs)
    assert sum(map(len, train_docs + val_docs + test_docs)) > 5_000_000
    assert len(val_docs) == total // 20 and abs(len(test_docs) - total // 20) <= 1
    for split, docs in (("train", train_docs), ("val", val_docs), ("test", test_docs)):
        tokens = np.load(embedded_cache / "tokens" / f"{split}.npy")
        assert tokens.dtype == np.uint16
        starts = np.flatnonzero(tokens == tok.get_bos_token_id())
        assert starts[0] == 0 and len(starts) == len(docs)
        for k in (0, len(docs) // 2, len(docs) - 1):
            end = starts[k + 1] if k + 1 < len(starts) else len(tokens)
            assert tok.decode(tokens[starts[k] + 1 : end].tolist()) == docs[k]
    assert not set(test_docs) & (set(train_docs) | set(val_docs))  # the test split is disjoint from both
    assert not set(val_docs) & set(train_docs)  # held-out documents never appear in training
