"""The public names an upstream train.py imports from prepare.py exist and behave the same way."""

from __future__ import annotations

import inspect
import os
from pathlib import Path


def test_upstream_names_and_signatures(prep):
    for name in (
        "MAX_SEQ_LEN",
        "TIME_BUDGET",
        "EVAL_TOKENS",
        "VOCAB_SIZE",
        "CACHE_DIR",
        "Tokenizer",
        "make_dataloader",
        "evaluate_bpb",
        "get_token_bytes",
        "SPLIT_PATTERN",
        "BOS_TOKEN",
    ):
        assert hasattr(prep, name), name
    assert prep.TIME_BUDGET == 300
    assert list(inspect.signature(prep.evaluate_bpb).parameters) == ["model", "tokenizer", "batch_size"]
    assert list(inspect.signature(prep.make_dataloader).parameters)[:4] == ["tokenizer", "B", "T", "split"]
    tok = prep.Tokenizer.from_directory()
    assert tok.get_vocab_size() == prep.VOCAB_SIZE
    assert isinstance(tok.get_bos_token_id(), int)
    assert tok.get_token_bytes("cpu").shape == (prep.VOCAB_SIZE,)


def test_train_tokens_is_the_size_of_the_training_split(prep):
    import numpy as np

    manifest = prep._read_manifest()
    files = [os.path.join(prep.CACHE_DIR, rel) for rel in manifest["splits"]["train"]]
    assert prep.TRAIN_TOKENS == sum(len(np.load(f, mmap_mode="r")) for f in files) > 0


def test_cache_dir_default_and_override(prep, monkeypatch, tmp_path):
    from harness_helpers import load_prepare

    assert Path(prep.CACHE_DIR) == Path(os.environ["AUTORESEARCH_CACHE"])
    monkeypatch.delenv("AUTORESEARCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    import importlib

    import prepare

    fresh = importlib.reload(prepare)
    assert fresh.CACHE_DIR == str(tmp_path / ".cache" / "autoresearch")
    assert fresh.PROFILE == "embedded" and fresh.MAX_SEQ_LEN == 128  # defaults when nothing is prepared
    load_prepare(Path(prep.CACHE_DIR))
