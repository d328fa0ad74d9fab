"""`--dataset climbmix` against a local fixture server standing in for the Hugging Face hub (HF_ENDPOINT).

The server speaks just enough of the hub: /datasets/karpathy/climbmix-400b-shuffle/resolve/main/<file>, an
ETag holding the sha256 (like X-Linked-ETag for LFS files), and HTTP Range requests for resume."""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from harness_helpers import REPO_ROOT, load_prepare, run_script

PREFIX = "/datasets/karpathy/climbmix-400b-shuffle/resolve/main/"
SHARDS = ["shard_00000.parquet", "shard_00001.parquet", "shard_06541.parquet", "shard_06542.parquet"]
VAL, TEST = SHARDS[3], SHARDS[2]  # the last shard is validation, the one before it the held-out test
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no out up into do time more some "
    "river light house garden winter letter morning market stone window"
).split()


def _write_shard(path: Path, seed: int, docs: int = 300) -> None:
    rng = random.Random(seed)
    texts = []
    for _ in range(docs):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
            for _ in range(rng.randint(2, 12))
        ]
        texts.append(" ".join(sentences) + f" ({rng.randint(1, 9999)})")
    pq.write_table(pa.table({"text": texts}), path)


class Hub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.root = root
        self.log: list[tuple[str, str | None]] = []  # (file, Range header)
        self.fail_once: set[str] = set()  # answer 503 to the first request for these files
        self.corrupt: set[str] = set()  # serve flipped bytes under the true ETag
        self.lock = threading.Lock()


class HubHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        hub: Hub = self.server
        if not self.path.startswith(PREFIX):
            self.send_error(404)
            return
        name = self.path[len(PREFIX) :]
        with hub.lock:
            hub.log.append((name, self.headers.get("Range")))
            if name in hub.fail_once:
                hub.fail_once.discard(name)
                self.send_error(503)
                return
        path = hub.root / name
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest()
        if name in hub.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes=") :].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{etag}"')
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "hub"
    root.mkdir()
    for i, name in enumerate(SHARDS):
        _write_shard(root / name, seed=i)
    server = Hub(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _prepare(cache: Path, hub: Hub, *extra):
    args = [
        REPO_ROOT / "prepare.py",
        "--dataset",
        "climbmix",
        "--num-shards",
        "2",
        "--vocab-size",
        "512",
        "--max-seq-len",
        "64",
        "--eval-tokens",
        "4096",
        *extra,
    ]
    endpoint = f"http://127.0.0.1:{hub.server_address[1]}"
    return run_script(args, cache, HF_ENDPOINT=endpoint, AUTORESEARCH_BACKOFF_SCALE="0.01")


def test_climbmix_downloads_in_parallel_with_retry_resume_and_checksums(hub, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    data = cache / "data"
    data.mkdir(parents=True)
    # a download interrupted half-way: the .tmp holds the first half of shard 0
    half = (hub.root / SHARDS[0]).read_bytes()
    (data / (SHARDS[0] + ".tmp")).write_bytes(half[: len(half) // 2])
    hub.fail_once.add(SHARDS[1])  # a transient server error

    proc = _prepare(cache, hub)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shards" in proc.stderr  # the tqdm progress bar

    requested = [name for name, _ in hub.log]
    assert sorted(set(requested)) == SHARDS  # train shards 0..1, the pinned test 06541 and val 06542
    assert requested.count(SHARDS[1]) == 2  # retried after the 503
    assert (SHARDS[0], f"bytes={len(half) // 2}-") in hub.log  # resumed with a Range request
    for name in SHARDS:
        assert (data / name).read_bytes() == (hub.root / name).read_bytes()
        assert (data / (name + ".sha256")).read_text() == hashlib.sha256(
            (hub.root / name).read_bytes()
        ).hexdigest()
    assert not list(cache.rglob("*.tmp"))

    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["profile"] == "climbmix"
    assert manifest["constants"] == {"MAX_SEQ_LEN": 64, "VOCAB_SIZE": 512, "EVAL_TOKENS": 4096}
    assert manifest["source"]["val_shard"] == VAL and manifest["source"]["train_shards"] == 2
    assert manifest["source"]["test_shard"] == TEST
    assert manifest["splits"] == {
        "train": ["tokens/train_00000.npy", "tokens/train_00001.npy"],
        "val": ["tokens/val.npy"],
        "test": ["tokens/test.npy"],
    }
    assert manifest["source"]["base_url"].endswith(PREFIX.rstrip("/"))

    # the harness works on it: constants from the manifest, packed rows, a metric
    monkeypatch.setenv("AUTORESEARCH_CACHE", str(cache))
    prep = load_prepare(cache)
    assert (prep.PROFILE, prep.MAX_SEQ_LEN, prep.VOCAB_SIZE) == ("climbmix", 64, 512)
    tok = prep.Tokenizer.from_directory()
    x, y, _ = next(prep.make_dataloader(tok, 4, prep.MAX_SEQ_LEN, "train"))
    assert x.shape == (4, 64) and (x[:, 0] == tok.get_bos_token_id()).all()
    assert prep.eval_rows(tok).shape == (4096 // 64, 65)
    assert prep._heldout_rows(tok).shape == (4096 // 64, 65)
    assert not torch.equal(prep._heldout_rows(tok), prep.eval_rows(tok))

    # verified shards are never downloaded again
    hub.log.clear()
    again = _prepare(cache, hub)
    assert again.returncode == 0 and again.stdout.startswith("already prepared") and hub.log == []
    assert run_script([REPO_ROOT / "prepare.py", "--check"], cache).returncode == 0


def test_checksum_mismatch_fails_cleanly(hub, tmp_path):
    hub.corrupt.add(VAL)
    cache = tmp_path / "cache"
    proc = _prepare(cache, hub)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "sha256 mismatch for shard_06542.parquet" in proc.stderr.strip().splitlines()[-1]
    assert [name for name, _ in hub.log].count(VAL) == 5  # every attempt, then give up
    assert not (cache / "data" / VAL).exists() and not list(cache.rglob("*.tmp"))
    assert not (cache / "manifest.json").exists()


def test_default_endpoint_is_the_hub(monkeypatch, embedded_cache):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    prep = load_prepare(embedded_cache)
    assert prep.climbmix_base_url() == "https://huggingface.co" + PREFIX.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example/")
    assert prep.climbmix_base_url() == "https://hf-mirror.example" + PREFIX.rstrip("/")
