"""The CLI as the skill runs it: real subprocesses, --json everywhere, one-line errors with exit 1."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from memory_helpers import CLI, REPO_ROOT, cli, make_corpus


def ok_json(out: subprocess.CompletedProcess):
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def assert_one_line_error(out: subprocess.CompletedProcess, *fragments: str):
    assert out.returncode == 1, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_teaches_with_examples():
    for args in ((), ("--help",), ("add", "--help")):
        out = cli(*args)
        assert out.returncode == 0
        assert (
            "examples:" in out.stdout
            and "add --kind learning" in out.stdout
            and "--from-result" in out.stdout
        )


def test_bare_query_is_search_and_json_everywhere(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    bare = ok_json(cli("--json", "out of memory", "--dir", corpus_dir))
    explicit = ok_json(cli("search", "out", "of", "memory", "--dir", corpus_dir, "--json"))
    assert bare["results"][0]["id"] == explicit["results"][0]["id"] == "I-0001"
    assert (
        ok_json(cli("--dir", corpus_dir, "--json", "search", "oom", "--explain"))["results"][0]["explain"][
            "final"
        ]
        > 0
    )
    assert ok_json(cli("list", "--dir", corpus_dir, "--json", "--kind", "decision"))["total"] == 7
    assert ok_json(cli("show", "D-0007", "--dir", corpus_dir, "--json"))["entries"][0]["supersedes"] == [
        "D-0006"
    ]
    assert len(ok_json(cli("digest", "--dir", corpus_dir, "--json", "--max-chars", "500"))["digest"]) <= 500
    assert ok_json(cli("stats", "--dir", corpus_dir, "--json"))["entries"] == 32
    assert ok_json(cli("reindex", "--dir", corpus_dir, "--json"))["entries"] == 32
    added = ok_json(
        cli("add", "--dir", corpus_dir, "--json", "--kind", "decision", "--title", "Log seeds in runs.jsonl")
    )
    assert added["added"] and added["id"] == "D-0008"


def test_text_output_is_compact(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    out = cli("--dir", corpus_dir, "batch size", "--explain")
    assert out.returncode == 0
    first = out.stdout.splitlines()[1]
    assert (
        first.startswith("1. L-0001  2026-11-20  Halving batch size")
        and "Δ-0.0041" in first
        and "a1b2c3d" in first
    )
    assert "why: all terms" in out.stdout
    assert "no entries match" in cli("--dir", corpus_dir, "zebra").stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("add", "--kind", "idea", "--title", "x"), "invalid choice"),
        (("add", "--kind", "learning"), "--title"),
        (("add", "--kind", "learning", "--title", ""), "title is empty"),
        (("show", "L-0999"), "L-0999"),
        (("search", "***"), "no words"),
        (("search", "oom", "--limit", "0"), "--limit"),
        (("search", "oom", "--limit", "many"), "invalid int"),
        (("digest", "--max-chars", "0"), "--max-chars"),
        (("list", "--bogus"), "unrecognized"),
        (("add", "--kind", "learning", "--title", "t", "--from-result", "abc"), "4 characters"),
        (("add", "--kind", "learning", "--title", "t", "--supersedes", "L-0999"), "L-0999"),
    ],
)
def test_errors_are_one_line_with_exit_1(tmp_path, args, fragment):
    corpus_dir = make_corpus(tmp_path)
    out = cli(*args, "--dir", corpus_dir)
    assert_one_line_error(out, fragment)
    with_json = cli(*args, "--dir", corpus_dir, "--json")
    assert with_json.returncode == 1 and "error" in json.loads(with_json.stdout)


def test_near_duplicate_is_shown_and_needs_force(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    args = (
        "add",
        "--dir",
        corpus_dir,
        "--kind",
        "learning",
        "--title",
        "Halving batch size helps at a 300 s budget!",
        "--text",
        "TOTAL_BATCH_SIZE 2**19 -> 2**18 gave more optimizer steps inside the fixed budget",
    )
    out = cli(*args)
    assert_one_line_error(out, "near-duplicate of L-0001", "--force")
    assert out.stdout.startswith("similar: L-0001")
    data = json.loads(cli(*args, "--json").stdout)
    assert data["added"] is False and data["near_duplicates"][0]["id"] == "L-0001"
    forced = ok_json(cli(*args, "--json", "--force"))
    assert forced["added"] and forced["near_duplicates"][0]["id"] == "L-0001"
    again = ok_json(cli(*args, "--json", "--force"))
    assert again["added"] is False and again["id"] == forced["id"]  # now an exact duplicate


def write_results(path, rows):
    lines = ["commit\tval_bpb\tmemory_gb\tstatus\tdescription"] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_from_result_copies_the_measured_numbers(tmp_path):
    results = tmp_path / "results.tsv"
    write_results(
        results,
        [
            ("a1b2c3d", "0.997900", "44.0", "keep", "baseline"),
            ("b2c3d4e", "0.995000", "44.1", "keep", "halve batch"),
            ("c3d4e5f", "0.996100", "44.0", "discard", "lr 0.06"),
            ("d4e5f6a", "0.000000", "0.0", "crash", "depth 16 oom"),
        ],
    )
    memory = tmp_path / "memory"
    base = ("add", "--dir", memory, "--results", results, "--json")
    data = ok_json(
        cli(*base, "--kind", "learning", "--title", "lr 0.06 is worse", "--from-result", "c3d4e5f9999")
    )
    meta = data["entry"]["meta"]
    assert meta["commit"] == "c3d4e5f" and meta["val_bpb"] == "0.996100" and meta["status"] == "discard"
    assert (
        meta["baseline_bpb"] == "0.995000" and meta["delta"] == "+0.001100" and meta["evidence"] == "measured"
    )
    assert data["entry"]["body"] == "Run: lr 0.06"
    crash = ok_json(
        cli(*base, "--kind", "issue", "--title", "depth 16 OOM", "--from-result", "d4e5f6a", "--text", "x")
    )
    assert crash["entry"]["meta"]["status"] == "crash" and "val_bpb" not in crash["entry"]["meta"]
    first = ok_json(cli(*base, "--kind", "learning", "--title", "Baseline measured", "--from-result", "a1b2"))
    assert "delta" not in first["entry"]["meta"] and first["entry"]["meta"]["val_bpb"] == "0.997900"
    hypothesis = ok_json(cli(*base, "--kind", "learning", "--title", "Maybe label smoothing"))
    assert hypothesis["entry"]["evidence"] == "hypothesis"
    assert_one_line_error(
        cli(*base[:-1], "--kind", "learning", "--title", "t", "--from-result", "fffffff"),
        "not in results.tsv",
    )
    results.write_text("commit\tval_bpb\nbroken\n", encoding="utf-8")
    assert_one_line_error(
        cli(*base[:-1], "--kind", "learning", "--title", "t", "--from-result", "a1b2c3d"), "line 1"
    )


def test_text_from_stdin(tmp_path):
    body = "Symptom: OOM.\n\nWorkaround: batch 32.\n"
    data = ok_json(
        cli(
            "add", "--dir", tmp_path, "--json", "--kind", "issue", "--title", "OOM", "--text", "-", input=body
        )
    )
    assert data["entry"]["body"] == body.strip()


def test_default_folder_comes_from_the_config(tmp_path):
    """memory_dir set elsewhere in a project's config: the CLI, found by its own path, writes there."""
    project = tmp_path / "project"
    shutil.copytree(
        REPO_ROOT / ".claude" / "lib",
        project / ".claude" / "lib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (project / "pyproject.toml").write_text(
        '[tool.autoresearch]\nmemory_dir = "notes/memory"\n', encoding="utf-8"
    )
    cli_copy = project / ".claude" / "lib" / "memory" / "memory_search.py"
    out = subprocess.run(
        ["python3", str(cli_copy), "add", "--kind", "decision", "--title", "Config decides"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "D-0001" in (project / "notes" / "memory" / "decisions.md").read_text(encoding="utf-8")
    (project / "pyproject.toml").write_text("[tool.autoresearch\nbroken", encoding="utf-8")
    out = subprocess.run(["python3", str(cli_copy), "list"], capture_output=True, text=True, timeout=60)
    assert_one_line_error(out, "pyproject.toml")


def test_runs_through_uv_and_bare_python3(tmp_path):
    corpus_dir = make_corpus(tmp_path)
    for command in (["uv", "run", "--quiet", str(CLI.relative_to(REPO_ROOT))], ["python3", str(CLI)]):
        out = subprocess.run(
            [*command, "--dir", str(corpus_dir), "--json", "tokenizer reboot"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["results"][0]["id"] == "I-0007"
    # Writes work under a bare python3 without filelock too (fcntl lock).
    out = subprocess.run(
        [
            "python3",
            "-I",
            str(CLI),
            "add",
            "--dir",
            str(corpus_dir),
            "--kind",
            "issue",
            "--title",
            "Bare python3 write",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "I-0008" in out.stdout


@pytest.mark.parametrize("args", [["list", "--limit", "0"], ["search", "memory", "--json", "--limit", "500"]])
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path, args):
    """`memory_search.py list | head -1`: the pipe closes under the CLI; it must leave quietly."""
    corpus_dir = make_corpus(tmp_path)
    proc = subprocess.Popen(
        ["python3", str(CLI), *args, "--dir", str(corpus_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
    )
    proc.stdout.read(1)
    proc.stdout.close()  # the reader is gone before the CLI has written everything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
