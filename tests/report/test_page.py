"""report.html without a browser: what the page holds, what it never holds, its size bound, and the CLI.

Real git repositories in tmp dirs (report_night.py), the real `scripts/experiment.py` in subprocesses. Only
the held-out scorer is replaced (in the leak test), since these nights have no trained models to score.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from autoresearch import attest, ledger, report, report_page
from report_night import DIFF_ROW, DIFF_XSS, XSS, XSS_ROW, make_night

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = REPO_ROOT / "scripts" / "experiment.py"


def cli(night, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLI), *args],
        cwd=night.root,
        env=night.env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def tbody(page: str, n: int) -> str:
    start = page.index(f'<tbody class="exp" id="exp-{n}"')
    return page[start : page.index("</tbody>", start)]


@pytest.fixture(scope="module")
def page80(night80, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("page") / "report.html"
    report_page.write(night80.cfg, path=out, rep=night80.report_with_tests())
    return out.read_text(encoding="utf-8")


def test_one_row_and_one_chart_mark_per_experiment(night80, page80):
    assert page80.count('<tbody class="exp"') == night80.rows == 81
    start = page80.index('<svg id="chart-svg"')
    chart = page80[start : page80.index("</svg>", start)]
    assert len(re.findall(r'class="mark (keep|discard|crash)', chart)) == night80.rows
    kept = sum(1 for line in night80.cfg.results_path.read_text().splitlines()[1:] if "\tkeep\t" in line)
    assert chart.count('class="test-mark"') == kept - 1  # the kept commits with a test score (no hand row)
    assert 'class="best"' in chart and 'class="band"' in chart and chart.count('class="label"') == kept - 1


def test_the_page_is_self_contained(page80):
    assert page80.count("<script") == 1 and page80.count("<style") == 1
    # no fetch of anything: no src/href to a URL, no CSS imports or url(), a CSP that forbids the rest
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page80, re.I)
    assert "@import" not in page80 and "url(" not in page80
    assert set(re.findall(r"https?://[^\s\"'<]+", page80)) == {"http://www.w3.org/2000/svg"}  # a namespace
    assert "default-src 'none'" in page80 and "script-src 'sha256-" in page80


def test_agent_written_text_is_escaped(page80):
    assert XSS not in page80 and "<script>alert" not in page80 and "<b>bold</b>" not in page80
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in tbody(page80, XSS_ROW)
    escaped = "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    assert escaped in tbody(page80, DIFF_ROW)
    assert DIFF_XSS not in page80


def test_details_diffs_logs_and_memory(night80, page80):
    rows = night80.cfg.results_path.read_text().splitlines()[1:]
    status = {n: line.split("\t")[3] for n, line in enumerate(rows, 1)}
    # every discard whose commit is still in the repository shows its diff against its parent
    discards = [n for n, s in status.items() if s == "discard"]
    with_diff = [n for n in discards if '<pre class="diff">' in tbody(page80, n)]
    assert len(with_diff) == len(discards) - 1  # one discard's commit was never in this repository
    gone = [n for n in discards if n not in with_diff]
    assert "commit not reachable" in tbody(page80, gone[0])
    body = tbody(page80, DIFF_ROW)
    commit = rows[DIFF_ROW - 1].split("\t")[0]
    assert f"git diff {commit}^ {commit} -- train.py" in body and "+# &lt;/pre&gt;" in body
    assert "the baseline: the night started from this commit" in tbody(page80, 1)
    for word in ("attested val_bpb", "reported val_bpb", "steps", "tokens", "device", "training seconds"):
        assert f"<dt>{word}</dt>" in body
    # crashes: the last log lines while the full log is kept, a note once it is pruned
    crashes = [n for n, s in status.items() if s == "crash"]
    logged = [n for n in crashes if '<pre class="log">' in tbody(page80, n)]
    assert logged and len(logged) < len(crashes)
    assert "Traceback (most recent call last)" in tbody(page80, logged[-1])
    assert "no full log any more" in tbody(page80, next(n for n in crashes if n not in logged))
    # the hand row: shown, flagged, no record
    assert "[unattested]" in tbody(page80, night80.rows) and "written by hand" in tbody(page80, night80.rows)
    # memory: the night's entries, each linked to the experiment it names; the older one only counted
    mem = page80[page80.index('<section id="memory">') :]
    assert mem.count('<li id="mem-') >= 10 and "1 older entries not shown" in mem
    assert "Muon lr above 0.05" not in mem
    linked = re.findall(r'<a href="#exp-(\d+)" data-exp="\d+">', mem)
    assert len(linked) >= 10
    kept_first = next(n for n, s in status.items() if s == "keep" and n > 1)
    assert str(kept_first) in linked and 'href="#mem-L-0002"' in tbody(page80, kept_first)
    crash_issue = re.search(r'<li id="mem-I-0001">.*?</li>', mem, re.S).group(0)
    assert f'data-exp="{crashes[0]}"' in crash_issue  # linked from the commit named in its text


def test_headline(night80, page80):
    head = page80[page80.index('<section id="headline">') : page80.index('<section id="chart">')]
    assert "1.8612 → " in head and "held-out test: baseline → best" in head
    c = {s: sum(1 for r in night80.cfg.results_path.read_text().splitlines() if f"\t{s}\t" in r) for s in
         ("keep", "discard", "crash")}  # fmt: skip
    assert f"{c['keep']} keep · {c['discard']} discard · {c['crash']} crash" in head
    runs = c["keep"] + c["discard"] - 1  # a failed run prints no device; the hand row has no record
    assert "/ hour" in head and "wall time 8h" in head and f"device cpu ({runs} runs)" in head


def test_written_atomically_and_refreshed_cheaply(night80, tmp_path):
    out = tmp_path / "report.html"
    first = report_page.write(night80.cfg, path=out)
    inode = out.stat().st_ino
    second = report_page.write(night80.cfg, path=out)
    assert out.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left behind
    assert first["bytes"] == second["bytes"] == out.stat().st_size
    assert not first["test_figures"]  # a refresh without the report's scoring holds no test figure
    assert "not scored in this refresh" in out.read_text()


def test_page_size_stays_under_its_bound(tmp_path):
    """The worst case: every description as long as the ledger allows, all quotes, angle brackets and
    ampersands (each escapes to 4-6 bytes), every runner reason and device as long and as bad, memory
    entries linked to the keeps, and every experiment rewriting all of train.py."""
    rows = 600
    night = make_night(
        tmp_path / "night", experiments=rows, seed=5, big_diffs=True,
        descriptions={i: ('"<&' * 100)[: ledger.MAX_DESCRIPTION_CHARS] for i in range(1, rows + 1)},
    )  # fmt: skip
    records = [json.loads(line) for line in night.cfg.sidecar_path.read_text().splitlines()]
    for rec in records:  # the runner's reason can quote train.py's output
        rec.update(reason='"' * 1000, device="<" * 1000)
    night.cfg.sidecar_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = report_page.write(night.cfg, path=tmp_path / "big.html")
    page = Path(out["path"]).read_text(encoding="utf-8")
    assert out["bytes"] <= report_page.size_bound(rows), (out["bytes"], report_page.size_bound(rows))
    assert "left out to keep the page under its bound" in page  # the text budget was reached
    assert page.count('<tbody class="exp"') == rows


def test_cli_writes_the_page_and_keeps_its_text(night80, tmp_path):
    proc = cli(night80, "report")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("report: tag nov25 |") and "headline:" in proc.stdout
    page_line = proc.stdout.strip().splitlines()[-1]
    assert page_line.startswith(f"page: {night80.root / 'report.html'} (81 experiments")
    assert "file://" in page_line and (night80.root / "report.html").is_file()

    other = tmp_path / "elsewhere.html"
    proc = cli(night80, "report", "--json", "--html", str(other))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["page"]["path"] == str(other) and data["page"]["bytes"] == other.stat().st_size
    assert data["kept"] and data["headline"]  # report's own fields are unchanged

    (night80.root / "report.html").unlink()
    proc = cli(night80, "report", "--no-html", "--json")
    assert proc.returncode == 0 and "page" not in json.loads(proc.stdout)
    assert not (night80.root / "report.html").exists()

    proc = cli(night80, "report", "--html", "x.html", "--no-html")
    assert proc.returncode == 1 and "not allowed with argument" in proc.stderr
    helptext = cli(night80, "report", "--help").stdout
    assert "report.html" in helptext and "--no-html" in helptext and "file://" in helptext


# --- the leak rule: inside Claude Code, no held-out figure in the page or on stdout ---

STUB = textwrap.dedent(
    """
    # the real CLI, with the held-out scorer replaced (these nights have no trained models)
    import runpy, sys, zlib
    from pathlib import Path
    sys.path.insert(0, sys.argv[1] + "/.claude/lib")
    from autoresearch import attest

    def score(cfg, harness, sha, artifact, split="val", probe=True, **kw):
        assert split == "test"
        return {"bpb": 3.1 + (zlib.crc32(artifact.name.encode()) % 899_999) / 1e7 + 1e-7}

    attest.pristine_harness = lambda cfg, st: (Path("."), "stub")
    attest.score = score
    script = sys.argv[1] + "/scripts/experiment.py"
    sys.argv = [script, *sys.argv[2:]]
    runpy.run_path(script, run_name="__main__")
    """
)


def _figures(value: float) -> list[str]:
    return [f"{value:.{d}f}" for d in (6, 5, 4)]


def test_no_test_figure_in_the_page_or_the_output_inside_claude_code(tmp_path, monkeypatch):
    night = make_night(tmp_path / "night", experiments=30, seed=7, memory=False)
    for rec in map(json.loads, night.cfg.sidecar_path.read_text().splitlines()):
        if rec["status"] == "keep":  # a saved model for the baseline and each keep, as the runner leaves
            path = attest.artifact_path(night.cfg, rec["commit"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"model")

    def run(*args, **env):
        proc = subprocess.run(
            [sys.executable, "-c", STUB, str(REPO_ROOT), *args],
            cwd=night.root,
            env=night.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    human = json.loads(run("report", "--json", "--html", "human.html"))
    scores = [e["test_bpb"] for e in human["kept"]]
    assert len(scores) >= 3 and all(3.1 < s < 3.2 for s in scores)
    figures = [f for s in scores for f in _figures(s)]
    human_page = (night.root / "human.html").read_text()
    assert all(_figures(s)[0] in human_page for s in scores)  # the check below can see a figure
    assert 'class="test-mark"' in human_page and "held-out test: baseline → best" in human_page
    # `status --headline` in the human's terminal: the page's headline, the held-out split scored the same way
    headline = run("status", "--headline")
    base, best = human["headline"]["baseline"], human["headline"]["best"]
    test = {e["commit"][:7]: e["test_bpb"] for e in human["kept"]}
    assert f"held-out test: baseline {test[base[:7]]:.6f} -> best {test[best[:7]]:.6f}" in headline
    val = rf"^headline: val_bpb baseline \d\.\d{{6}} -> best \d\.\d{{6}} .*{best[:7]}"
    assert re.search(val, headline, re.M)
    assert re.search(r"^night: 30 experiments \(\d+ keep, \d+ discard, \d+ crash\)", headline, re.M)
    assert "headline:" not in run("status"), "a pipe gets the plain status; a terminal gets the headline"

    outputs = {}
    agent_calls = [("report",), ("report", "--json"), ("report", "--html", "agent.html"), ("status",)]
    agent_calls += [("status", "--headline"), ("status", "--headline", "--json")]
    for args in agent_calls:
        outputs[" ".join(args)] = run(*args, CLAUDECODE="1")
    # the agent writes no page at all: a page it wrote would sit where the human's page goes
    assert not (night.root / "report.html").exists() and not (night.root / "agent.html").exists()
    assert "page: not written inside Claude Code" in outputs["report"]
    # the library too, even when handed the human's figures
    monkeypatch.setenv("CLAUDECODE", "1")
    report_page.write(night.cfg, path=tmp_path / "lib.html", rep=human)
    outputs["lib.html"] = (tmp_path / "lib.html").read_text()
    assert report.in_agent_session()
    for name, text in outputs.items():
        leaked = [f for f in figures if re.search(rf"(?<![0-9]){re.escape(f)}", text)]
        assert not leaked, f"{name} shows a test figure: {leaked}"
        assert 'class="test-mark"' not in text, name
    assert "withheld inside Claude Code" in outputs["lib.html"]
    assert "withheld" in outputs["report"]
    assert "held-out test: withheld inside Claude Code" in outputs["status --headline"]


def test_status_at_a_terminal_leads_with_the_page_headline(night80):
    from terminal import on_a_terminal

    argv = [sys.executable, str(CLI), "status"]
    code, shown, _ = on_a_terminal(argv, "stdout", cwd=night80.root, env=night80.env())
    assert code == 0
    shown = shown.replace("\r\n", "\n")
    page = report_page.gather(night80.cfg)
    assert shown.startswith("\n".join(report_page.headline_lines(page))), shown[:800]
    assert "held-out test: not scored in this refresh" in shown  # only --headline scores it (seconds)
    assert "\nnext: " in shown  # then the status itself
