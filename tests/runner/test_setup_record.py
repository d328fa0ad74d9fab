"""setup, record, status and plot through the real CLI in real git repos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from runner_helpers import clean_env, git, make_night

pytestmark = pytest.mark.slow


def test_setup_creates_branch_ledger_state_hook(night):
    proc, out = night.json("setup")
    assert proc.returncode == 0, proc.stderr
    tag = out["tag"]
    assert tag[:3].isalpha() and tag[3:].isdigit()  # e.g. nov25
    assert git(night.root, "branch", "--show-current") == f"autoresearch/{tag}"
    assert (night.root / "results.tsv").read_text() == "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n"
    assert git(night.root, "status", "--porcelain") == ""  # results.tsv, .autoresearch ignored
    assert out["cache"] == "cache ready: fake corpus at /tmp/fake"
    st = night.state()
    assert st["version"] == 1 and st["branch"] == f"autoresearch/{tag}"
    assert len(st["baseline_commit"]) == 40 and st["baseline_commit"] == night.head()
    assert set(st["protected_hashes"]) == {"prepare.py", "pyproject.toml"}
    assert st["in_flight"] is None and st["last_run"] is None
    assert set(st["noise"]) == {"sigma", "n", "source"}
    assert st["created_at"].endswith("Z")


def test_setup_suffixes_taken_tag_and_refuses_existing_branch(night):
    first = night.json("setup")[1]["tag"]
    git(night.root, "checkout", "-q", "master")
    second = night.json("setup")[1]["tag"]
    assert second == first + "b"
    git(night.root, "checkout", "-q", "master")
    proc = night.cli("setup", "--tag", first)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    # the second setup archived the first night's files instead of losing them
    assert list((night.root / ".autoresearch" / "archive").glob("*/results.tsv"))


def test_setup_archives_last_nights_stop_sentinel(night):
    night.json("setup")
    sentinel = night.root / ".autoresearch" / "STOP"
    sentinel.write_text("")  # the human stopped last night's loop
    git(night.root, "checkout", "-q", "master")
    night.json("setup")
    # a stale STOP would end the new night at its first stop: it is archived, not deleted
    assert not sentinel.exists()
    assert list((night.root / ".autoresearch" / "archive").glob("*/STOP"))


def test_setup_twice_on_the_night_branch_refuses(night):
    assert night.cli("setup").returncode == 0
    proc = night.cli("setup")
    assert proc.returncode == 1 and "already set up" in proc.stderr


def test_setup_relays_missing_cache(night):
    night.write(
        "prepare.py", 'import sys\nprint("cache missing: run `uv run prepare.py` first")\nsys.exit(1)\n'
    )
    night.commit("no cache")
    proc = night.cli("setup")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: data cache not ready: cache missing: run `uv run prepare.py` first"
    assert git(night.root, "branch", "--show-current") == "master"  # nothing created


def test_setup_refuses_dirty_tree(night):
    (night.root / "train.py").write_text("# edited\n")
    proc = night.cli("setup")
    assert proc.returncode == 1 and "uncommitted changes in train.py" in proc.stderr


def test_pre_commit_hook_blocks_protected_and_results(night):
    assert night.cli("setup").returncode == 0
    (night.root / "prepare.py").write_text("TIME_BUDGET = 1\n")
    git(night.root, "add", "prepare.py")
    proc = subprocess.run(
        ["git", "commit", "-m", "cheat"], cwd=night.root, capture_output=True, text=True, env=clean_env()
    )
    assert proc.returncode != 0 and "prepare.py is protected" in proc.stderr
    git(night.root, "reset", "-q", "--hard")
    git(night.root, "add", "-f", "results.tsv")
    proc = subprocess.run(
        ["git", "commit", "-m", "oops"], cwd=night.root, capture_output=True, text=True, env=clean_env()
    )
    assert proc.returncode != 0 and "untracked experiment data" in proc.stderr


def _baseline(night, env=None):
    assert night.cli("setup").returncode == 0
    proc = night.cli("run", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert night.cli("record", "keep", "baseline").returncode == 0
    return night.head()


def test_discard_appends_row_then_resets_keeping_untracked_files(night, ok_train):
    base = _baseline(night)
    memory = night.write(".claude/context/memory/learnings.md", "# learnings\n- lr 0.04 was worse\n")
    experiment = night.train(ok_train + "\n# lr 0.04\n", "lr 0.04")
    proc, v = night.json("run", env=clean_env(FAKE_VAL="1.600000"))
    assert v["suggestion"] == "discard" and v["base_commit"] == base[:7]
    proc, out = night.json("record", "discard", "lr 0.04")
    assert proc.returncode == 0, proc.stderr
    rows = (night.root / "results.tsv").read_text().splitlines()
    assert rows[-1] == f"{experiment[:7]}\t1.600000\t1.5\tdiscard\tlr 0.04"
    assert night.head() == base
    assert memory.read_text().endswith("was worse\n")
    sidecar = [json.loads(x) for x in (night.root / ".autoresearch" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in sidecar] == ["keep", "discard"]
    assert sidecar[-1]["outcome"] == "ok" and sidecar[-1]["steps"] == 3 and sidecar[-1]["device"] == "cpu"
    assert sidecar[-1]["time_budget"] == 300 and sidecar[-1]["comparable"] is True
    assert "sigma" in sidecar[-1]["noise"]
    assert (night.root / "run.log").exists()


def test_crash_resets_and_keep_does_not(night, ok_train):
    base = _baseline(night)
    bad = night.train("raise SystemExit('boom')\n", "broken")
    night.cli("run")
    assert night.cli("record", "keep", "broken").returncode == 1  # a failed run is never kept
    assert night.cli("record", "discard", "broken").returncode == 1  # no metric: crash, not discard
    assert night.cli("record", "crash", "broken").returncode == 0
    assert night.head() == base
    assert (night.root / "results.tsv").read_text().splitlines()[
        -1
    ] == f"{bad[:7]}\t0.000000\t0.0\tcrash\tbroken"
    good = night.train(ok_train + "\n# better\n", "better")
    _, v = night.json("run", env=clean_env(FAKE_VAL="1.400000"))
    assert v["suggestion"] == "keep"
    assert night.cli("record", "keep", "better").returncode == 0
    assert night.head() == good and night.state()["incumbent_commit"] == good
    # the next experiment's base is the kept commit
    night.train(ok_train + "\n# next\n", "next")
    _, v = night.json("run", env=clean_env(FAKE_VAL="1.450000"))
    assert v["base_commit"] == good[:7] and v["best"]["val_bpb"] == 1.4


def test_record_does_nothing_when_head_moved(night, ok_train):
    _baseline(night)
    experiment = night.train(ok_train + "\n# a\n", "a")
    night.cli("run", env=clean_env(FAKE_VAL="1.6"))
    later = night.train(ok_train + "\n# b\n", "b, committed without a run")
    proc = night.cli("record", "discard", "a")
    assert proc.returncode == 0 and "did nothing" in proc.stdout
    assert night.head() == later
    assert (night.root / "results.tsv").read_text().splitlines()[-1].startswith(experiment[:7])


def test_record_validation_and_no_duplicates(night):
    _baseline(night)
    for args, msg in [
        (("record", "maybe", "x"), "unknown status"),
        (("record", "keep", "a\tb"), "tab or a newline"),
        (("record", "keep", "a\nb"), "tab or a newline"),
        (("record", "keep", "again"), "already recorded"),
        (("record",), "required"),
        (("fly",), "invalid choice"),
    ]:
        proc = night.cli(*args)
        assert proc.returncode == 1, args
        assert msg in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert len((night.root / "results.tsv").read_text().splitlines()) == 2


def test_noise_from_baseline_repeats_and_rerun_on_near_tie(tmp_path, ok_train):
    night = make_night(tmp_path, repeats=2)
    assert night.cli("setup").returncode == 0
    vals = tmp_path / "vals.txt"
    vals.write_text("1.500 1.504 1.4975 1.4985")
    env = clean_env(FAKE_VAL_FILE=str(vals))
    _, v = night.json("run", env=env)
    assert v["suggestion"] == "rerun" and "baseline 1/2" in v["next"]
    assert "baseline 1/2" in night.cli("status").stdout
    _, v = night.json("run", env=env)
    assert v["suggestion"] == "keep" and 'record keep "baseline"' in v["next"]
    assert v["replicates"] == [1.5, 1.504] and abs(v["val_bpb"] - 1.502) < 1e-9
    assert night.cli("record", "keep", "baseline").returncode == 0
    st = night.state()
    assert st["noise"]["source"] == "baseline" and abs(st["noise"]["sigma"] - 0.004 / 2**0.5) < 1e-9
    # sigma 0.00283, sigma_diff 0.00346 (1 run vs 2) -> threshold 0.0069: a 0.0045 gain is a near-tie
    night.train(ok_train + "\n# idea\n", "idea")
    _, v = night.json("run", env=env)
    assert v["suggestion"] == "rerun" and "near-tie" in v["decision"]["reason"]
    _, v = night.json("run", env=env)  # the same commit again: averaged, threshold shrinks
    assert v["replicates"] == [1.4975, 1.4985] and v["decision"]["threshold"] < 0.0069
    assert v["suggestion"] == "rerun" or v["suggestion"] == "keep"
    assert night.cli("record", "discard", "idea").returncode == 0
    rows = (night.root / "results.tsv").read_text().splitlines()
    assert rows[-1].split("\t")[1] == "1.498000" and len(rows) == 3


def test_status_text_and_json(night, ok_train):
    _baseline(night)
    night.train(ok_train + "\n# x\n", "x")
    night.cli("run", env=clean_env(FAKE_VAL="1.7"))
    night.cli("record", "discard", "x")
    text = night.cli("status").stdout
    for needle in (
        "autoresearch: tag ",
        "baseline: 1.500000",
        "best: 1.500000",
        "runs: 2 (keep 1, discard 1, crash 0)",
        "noise: sigma",
        "keep threshold",
        "in-flight: none",
        "row: ",
        "next: next experiment",
    ):
        assert needle in text, needle
    assert len(text.splitlines()) <= 12
    proc, data = night.json("status")
    assert data["counts"] == {"keep": 1, "discard": 1, "crash": 0} and data["best"]["val_bpb"] == 1.5


def test_status_before_setup_and_with_corrupt_files(night):
    out = night.cli("status")
    assert out.returncode == 0 and "not set up" in out.stdout and "experiment.py setup" in out.stdout
    assert night.cli("setup").returncode == 0
    (night.root / "results.tsv").write_text("commit\tval_bpb\tmemory_gb\tstatus\tdescription\nabc\t1.0")
    out = night.cli("status")
    assert "results.tsv line 2" in out.stdout
    (night.root / ".autoresearch" / "state.json").write_text("{not json")
    out = night.cli("status")
    assert out.returncode == 0 and "not valid JSON" in out.stdout


def test_plot_writes_png(night, ok_train):
    _baseline(night)
    for i, (val, status) in enumerate(
        [(1.55, "discard"), (1.45, "keep"), (None, "crash"), (1.47, "discard")]
    ):
        night.train(ok_train + f"\n# {i}\n" if val else "raise SystemExit(1)\n", f"idea {i}")
        night.cli("run", env=clean_env(FAKE_VAL=str(val or 0)))
        assert night.cli("record", status, f"idea {i}").returncode == 0
    proc, out = night.json("plot")
    assert proc.returncode == 0, proc.stderr
    png = night.root / "progress.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert out["experiments"] == 5 and out["kept"] == 2 and out["crashes"] == 1 and out["best"] == 1.45


def test_help_teaches_with_examples(night):
    for sub in ("setup", "run", "record", "status", "plot"):
        proc = night.cli(sub, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout and "--json" in proc.stdout
    assert night.cli("--help").returncode == 0


def test_eight_concurrent_records_of_one_run_write_one_row(night, ok_train):
    _baseline(night)
    night.train(ok_train + "\n# c\n", "c")
    night.cli("run", env=clean_env(FAKE_VAL="1.6"))
    from runner_helpers import CLI

    args = [sys.executable, str(CLI), "record", "discard"]
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [
        subprocess.Popen([*args, f"try {i}"], cwd=night.root, env=clean_env(), **pipes) for i in range(8)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0] + [1] * 7
    assert all("already recorded" in err for code, err in results if code == 1)
    rows = (night.root / "results.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[-1].split("\t")[3] == "discard"
    assert git(night.root, "status", "--porcelain") == ""  # the lock files are ignored too


def test_unrecorded_run_is_kept_in_sidecar_when_the_next_commit_runs(night, ok_train):
    _baseline(night)
    first = night.train(ok_train + "\n# a\n", "a")
    night.cli("run", env=clean_env(FAKE_VAL="1.6"))
    night.train(ok_train + "\n# b\n", "b")
    _, v = night.json("run", env=clean_env(FAKE_VAL="1.7"))
    assert any("never recorded" in n for n in v["notes"])
    records = [json.loads(x) for x in (night.root / ".autoresearch" / "runs.jsonl").read_text().splitlines()]
    dropped = [r for r in records if r["commit"] == first]
    assert len(dropped) == 1 and dropped[0]["recorded"] is False and dropped[0]["replicates"] == [1.6]
    assert len((night.root / "results.tsv").read_text().splitlines()) == 2  # no row invented for it


def test_hand_written_rows_are_unattested_and_never_the_best(night, ok_train):
    """The seed's fallback (`echo -e ... >> results.tsv`) still works, but such a row is never the best."""
    _baseline(night)
    with (night.root / "results.tsv").open("a") as fh:
        fh.write("abcdef1\t0.100000\t1.0\tkeep\ta row typed by hand\n")
    proc, info = night.json("status")
    assert proc.returncode == 0, proc.stderr
    assert info["best"] is None or info["best"]["val_bpb"] > 0.1
    assert info["hand_rows"] == 1
    assert [r["provenance"] for r in info["last_rows"]] == ["runner", "hand"]  # attest = false here
    text = night.cli("status").stdout
    assert "unattested: 1 row(s) written by hand" in text
    assert "a row typed by hand\t[unattested]" in text


def test_run_refuses_while_a_commit_holds_the_ledger(night, ok_train):
    _baseline(night)
    git(night.root, "add", "-f", "results.tsv")
    git(night.root, "commit", "-q", "--no-verify", "-m", "oops: the ledger")  # past the pre-commit hook
    rows = (night.root / "results.tsv").read_text()
    proc = night.cli("run")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "results.tsv is tracked by git" in proc.stderr
    assert "git rm --cached results.tsv" in proc.stderr
    assert (night.root / "results.tsv").read_text() == rows  # nothing ran, nothing lost
