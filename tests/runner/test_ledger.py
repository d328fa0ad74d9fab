"""results.tsv: the schema, concurrent appends, and corrupt files that are reported and never rewritten."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from autoresearch import ledger
from runner_helpers import REPO_ROOT

ROW = ledger.Row("abc1234", 1.234567, 2.0, "keep", "baseline")


def test_header_and_row_format(tmp_path):
    path = tmp_path / "results.tsv"
    assert ledger.create(path) is True
    assert ledger.create(path) is False
    row = ledger.append_row(path, ledger.Row("abc1234def", 0.9979, 44.0039, "discard", "  lr 0.04 "))
    assert path.read_text() == ledger.HEADER + "\nabc1234\t0.997900\t44.0\tdiscard\tlr 0.04\n"
    assert row.line_no == 2 and row.commit == "abc1234"
    crash = ledger.append_row(path, ledger.Row("def5678", float("nan"), 3.0, "crash", "depth 32 OOM"))
    assert crash.line_no == 3
    assert path.read_text().splitlines()[-1] == "def5678\t0.000000\t0.0\tcrash\tdepth 32 OOM"
    rows = ledger.read_rows(path)
    assert [(r.commit, r.status, r.line_no) for r in rows] == [
        ("abc1234", "discard", 2),
        ("def5678", "crash", 3),
    ]


@pytest.mark.parametrize(
    "status,desc,msg",
    [
        ("maybe", "x", "unknown status"),
        ("keep", "a\tb", "tab or a newline"),
        ("keep", "a\nb", "tab or a newline"),
        ("keep", "  ", "empty"),
        ("keep", "x" * 201, "201 characters long: keep it to at most 200"),
        ("keep", "red \x1b[31mtext", "control character U\\+001B"),
        ("keep", "bell\x07", "control character U\\+0007"),
        ("keep", "bad \udcff byte", "not valid UTF-8"),
    ],
)
def test_bad_rows_rejected(tmp_path, status, desc, msg):
    path = tmp_path / "results.tsv"
    ledger.create(path)
    with pytest.raises(ledger.LedgerError, match=msg):
        ledger.append_row(path, ledger.Row("abc1234", 1.0, 1.0, status, desc))
    assert path.read_text() == ledger.HEADER + "\n"


def test_a_full_200_character_description_is_kept_as_written(tmp_path):
    path = tmp_path / "results.tsv"
    ledger.create(path)
    text = "wider MLP ratio 4 -> 6, ümlaut ok "
    text += "y" * (200 - len(text))
    assert len(text) == 200
    ledger.append_row(path, ledger.Row("abc1234", 1.0, 1.0, "discard", text))
    assert ledger.read_rows(path)[0].description == text


@pytest.mark.parametrize(
    "content,line",
    [
        (ledger.HEADER + "\nabc1234\t1.000000\t2.0\tkeep\tok\ndef5678\t0.99", 3),  # torn last write
        (ledger.HEADER + "\nabc1234\t1.000000\t2.0\tkeep\tok\nxyz\t1\t1\tkeep\tbad hash\n", 3),
        (ledger.HEADER + "\nabc1234\tone\t2.0\tkeep\tok\n", 2),
        (ledger.HEADER + "\nabc1234\t1.0\t2.0\tKEEP\tok\n", 2),
        ("", 1),
        ("commit,val_bpb\n", 1),
        (ledger.HEADER + "\nabc1234\t1.0\t2.0\tkeep\t\xff\n", 2),
    ],
)
def test_corrupt_file_names_the_line_and_is_never_rewritten(tmp_path, content, line):
    path = tmp_path / "results.tsv"
    raw = content.encode("latin-1") if "\xff" in content else content.encode()
    path.write_bytes(raw)
    with pytest.raises(ledger.LedgerError, match=rf"line {line}\b"):
        ledger.read_rows(path)
    with pytest.raises(ledger.LedgerError, match=rf"line {line}\b"):
        ledger.append_row(path, ROW)
    assert path.read_bytes() == raw


def test_missing_final_newline_gets_one_before_the_row(tmp_path):
    path = tmp_path / "results.tsv"
    path.write_text(ledger.HEADER + "\nabc1234\t1.000000\t2.0\tkeep\tok")  # complete, no newline
    ledger.append_row(path, ledger.Row("def5678", 0.9, 2.0, "discard", "next"))
    assert [r.commit for r in ledger.read_rows(path)] == ["abc1234", "def5678"]
    assert path.read_text().startswith(ledger.HEADER + "\nabc1234\t1.000000\t2.0\tkeep\tok\ndef5678")


def test_blank_lines_and_crlf_tolerated(tmp_path):
    path = tmp_path / "results.tsv"
    path.write_text(ledger.HEADER + "\r\nabc1234\t1.000000\t2.0\tkeep\tok\r\n\n")
    assert [r.description for r in ledger.read_rows(path)] == ["ok"]


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {lib!r})
    from autoresearch import ledger
    worker, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    for i in range(n):
        ledger.append_row(path, ledger.Row(f"{{worker:03x}}{{i:04x}}", 1.0 + i / 1e6, 1.0, "discard",
                                          f"worker {{worker}} row {{i}} " + "x" * 170))
        ledger.append_record(path + ".jsonl", {{"worker": worker, "i": i, "pad": "y" * 5000}})
    """
)


@pytest.mark.slow
def test_eight_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "results.tsv"
    ledger.create(path)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(lib=str(REPO_ROOT / ".claude" / "lib")))
    n = 25
    procs = [subprocess.Popen([sys.executable, str(script), str(w), str(n), str(path)]) for w in range(8)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    rows = ledger.read_rows(path)
    keys = [(r.commit, r.description) for r in rows]
    assert len(rows) == 8 * n and len(set(keys)) == 8 * n
    assert {r.commit for r in rows} == {f"{w:03x}{i:04x}" for w in range(8) for i in range(n)}
    assert [r.line_no for r in rows] == list(range(2, 8 * n + 2))
    records = ledger.read_records(str(path) + ".jsonl")
    assert sorted((r["worker"], r["i"]) for r in records) == [(w, i) for w in range(8) for i in range(n)]


def test_sidecar_skips_torn_lines_and_nan(tmp_path):
    path = tmp_path / "runs.jsonl"
    ledger.append_record(path, {"val_bpb": float("nan"), "ok": 1})
    with path.open("a") as fh:
        fh.write('{"torn": ')
    assert ledger.read_records(path) == [{"val_bpb": None, "ok": 1}]


def test_ledger_import_is_stdlib_only():
    code = (
        "import sys; sys.path.insert(0, '.claude/lib');"
        "from autoresearch import ledger, state, status, summary, gitutil, noise, config;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('filelock', 'psutil', 'matplotlib', 'torch')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run(["python3", "-I", "-S", "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
