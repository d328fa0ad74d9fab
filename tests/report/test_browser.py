"""report.html in a real browser: headless Chromium from file://, driven over the DevTools pipe.

No console error, no uncaught exception, no request but the file itself; a table row per ledger row and a
chart mark per experiment; the script ran to its end (it marks the body only then); sorting, filtering,
opening a row. A screenshot is saved in the test's tmp dir. Skipped without a browser, except under CI.
"""

from __future__ import annotations

from autoresearch import report_page
from report_night import DIFF_ROW, XSS, XSS_ROW

RENDER_LIMIT_MS = 2000.0  # the bound for 1,000 rows with their diffs

COUNTS = """(function () {
  var svg = document.getElementById("chart-svg");
  return {
    ready: document.body.getAttribute("data-ready"),
    error: document.body.getAttribute("data-error"),
    rows: document.querySelectorAll("#ledger-table tbody.exp").length,
    marks: svg.querySelectorAll(".mark").length,
    tests: svg.querySelectorAll(".test-mark").length,
    scripts: document.scripts.length,
    shown: document.getElementById("shown").textContent
  };
})()"""


def _visible(browser) -> list[int]:
    return browser.evaluate(
        "Array.prototype.slice.call(document.querySelectorAll('#ledger-table tbody.exp'))"
        ".filter(function (g) { return g.offsetParent !== null; })"
        ".map(function (g) { return +g.getAttribute('data-n'); })"
    )


def test_the_page_renders_cleanly_in_chromium(browser, night80, tmp_path):
    out = tmp_path / "report.html"
    report_page.write(night80.cfg, path=out, rep=night80.report_with_tests())
    page = browser.open(out)
    assert page.errors == [], page.errors
    assert page.requests == [out.resolve().as_uri()]  # nothing fetched but the file itself
    assert page.dialogs == []  # the <script> in a description never ran
    facts = browser.evaluate(COUNTS)
    assert facts["ready"] == "1" and facts["error"] is None
    assert facts["rows"] == night80.rows and facts["marks"] == night80.rows
    assert facts["tests"] > 0 and facts["scripts"] == 1
    assert facts["shown"] == f"{night80.rows} of {night80.rows} shown"
    browser.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 20_000

    # the agent-written description is text, not markup
    desc = browser.evaluate(f"document.querySelector('#exp-{XSS_ROW} td.desc').textContent")
    assert desc == XSS

    # open a row: its details, with the diff coloured line by line
    opened = browser.evaluate(
        f"""(function () {{
          document.querySelector('#exp-{DIFF_ROW} tr.row').click();
          var more = document.querySelector('#exp-{DIFF_ROW} tr.more');
          return {{hidden: more.hidden, adds: more.querySelectorAll('pre.diff span.add').length,
                   text: more.querySelector('pre.diff').textContent}};
        }})()"""
    )
    assert not opened["hidden"] and opened["adds"] >= 1
    assert "</pre><script>alert(2)</script>" in opened["text"]
    assert browser.evaluate(f"document.querySelector('#exp-{DIFF_ROW}').classList.contains('open')")
    browser.evaluate(f"document.querySelector('#exp-{DIFF_ROW} tr.row').click()")
    assert browser.evaluate(f"document.querySelector('#exp-{DIFF_ROW} tr.more').hidden")

    # sort by val_bpb (ascending, crashes last), then back by number
    browser.evaluate("document.querySelectorAll('#ledger-table th button')[3].click()")
    vals = browser.evaluate(
        "Array.prototype.map.call(document.querySelectorAll('#ledger-table tbody.exp'),"
        " function (g) { return g.rows[0].cells[3].getAttribute('data-v'); })"
    )
    numbers = [float(v) for v in vals if v]
    assert numbers == sorted(numbers) and all(not v for v in vals[len(numbers) :])
    browser.evaluate("document.querySelectorAll('#ledger-table th button')[0].click()")

    # filter: discards off, then a text filter
    statuses = [ln.split("\t")[3] for ln in night80.cfg.results_path.read_text().splitlines()[1:]]
    browser.evaluate("document.getElementById('f-discard').click()")
    shown = _visible(browser)
    assert len(shown) == sum(1 for s in statuses if s != "discard") and DIFF_ROW not in shown
    browser.evaluate(
        "(function () { var s = document.getElementById('search'); s.value = 'ALERT(1)';"
        " s.dispatchEvent(new Event('input')); })()"
    )
    assert _visible(browser) == []  # row 5 is a discard, and discards are off
    browser.evaluate("document.getElementById('f-discard').click()")
    assert _visible(browser) == [XSS_ROW]

    # a click on a chart mark opens that row (and clears a filter that hides it)
    browser.evaluate(f"document.querySelector('#chart-svg .mark[data-n=\"{DIFF_ROW}\"]').dispatchEvent("
                     "new MouseEvent('click', {bubbles: true}))")  # fmt: skip
    assert DIFF_ROW in _visible(browser)
    assert browser.evaluate(f"document.querySelector('#exp-{DIFF_ROW}').classList.contains('open')")
    again = browser.open(out)  # nothing above raised in the page
    assert again.errors == []


def test_a_script_error_fails_the_check(browser, night80, tmp_path, monkeypatch):
    """The detector itself: a page whose script throws is reported, and never marked ready."""
    broken = report_page.SCRIPT.replace('body.setAttribute("data-ready", "1");', "undefinedFunction();")
    assert broken != report_page.SCRIPT
    monkeypatch.setattr(report_page, "SCRIPT", broken)
    out = tmp_path / "broken.html"
    report_page.write(night80.cfg, path=out)
    page = browser.open(out)
    assert any("undefinedFunction" in e for e in page.errors), page.errors
    assert browser.evaluate("document.body.getAttribute('data-ready')") == "0"
    assert "undefinedFunction" in browser.evaluate("document.body.getAttribute('data-error')")


def test_a_thousand_rows_with_diffs_render_within_two_seconds(browser, night1000, tmp_path):
    out = tmp_path / "report.html"
    result = report_page.write(night1000.cfg, path=out)
    assert result["bytes"] <= report_page.size_bound(1000)
    page = browser.open(out)
    assert page.errors == []
    facts = browser.evaluate(COUNTS)
    assert facts["ready"] == "1" and facts["rows"] == 1000 and facts["marks"] == 1000
    with_diffs = browser.evaluate("document.querySelectorAll('#ledger-table template').length")
    assert with_diffs == 1000 and out.read_text().count('<pre class="diff">') >= 900
    if page.render_ms > RENDER_LIMIT_MS:  # one retry: a busy CI machine may stall a first load
        page = browser.open(out)
    assert page.render_ms < RENDER_LIMIT_MS, f"rendered in {page.render_ms:.0f} ms"
