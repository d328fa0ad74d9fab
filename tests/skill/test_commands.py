"""No dead references: every script and command the skill names exists in the repo and answers `--help`,
and every option the skill passes to our CLIs is one the CLI documents."""

from __future__ import annotations

import re
import subprocess

import pytest
from skilltext import REPO_ROOT, all_skill_texts, inline_code, uv_run_invocations

# Files the night creates; they do not exist in a fresh checkout.
RUNTIME_PATHS = re.compile(
    r"^(results\.tsv|run\.log|progress\.png|\.autoresearch/.*|\.claude/context/memory/.*|"
    r"\.claude/settings\*\.json|\.claude/settings\.local\.json|SKILL\.md|references/.*|[\w-]+\.md)$"
)
REPO_FILE = re.compile(r"^\.?[\w.-]+(/[\w.*-]+)*(\.(py|md|toml|lock|json)|/)$")


def _experiment_subcommands() -> set[str]:
    """The CLI's own subcommands, read from its parser (one home: a new one needs no edit here)."""
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location("experiment_cli", REPO_ROOT / "scripts" / "experiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    actions = [a for a in module.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for name in actions[0].choices if not name.startswith("_")}


SUBCOMMANDS = {
    "scripts/experiment.py": _experiment_subcommands(),
    ".claude/lib/memory/memory_search.py": {"search", "add", "list", "show", "digest", "stats", "reindex"},
}
NO_HELP = {"train.py"}  # `uv run train.py --help` would start a training run


def _invocations() -> list[tuple[str, list[str]]]:
    found = {}
    for name, text in all_skill_texts().items():
        for argv in uv_run_invocations(text):
            found.setdefault(" ".join(argv), (name, argv))
    return sorted(found.values(), key=lambda item: " ".join(item[1]))


INVOCATIONS = _invocations()


def _help_argv(argv: list[str]) -> list[str]:
    """`uv run SCRIPT [SUBCOMMAND] --help` for an invocation the skill names."""
    script = argv[2]
    subs = SUBCOMMANDS.get(script, set())
    if len(argv) > 3 and argv[3] in subs:
        return ["uv", "run", script, argv[3], "--help"]
    return ["uv", "run", script, "--help"]


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_the_skill_names_our_clis():
    scripts = {argv[2] for _, argv in INVOCATIONS}
    assert {"scripts/experiment.py", ".claude/lib/memory/memory_search.py"} <= scripts
    subs = {argv[3] for _, argv in INVOCATIONS if argv[2] == "scripts/experiment.py" and len(argv) > 3}
    assert {"setup", "run", "record", "status"} <= subs


@pytest.mark.parametrize("source,argv", INVOCATIONS, ids=[" ".join(a) for _, a in INVOCATIONS])
def test_script_exists(source, argv):
    script = argv[2]
    assert (REPO_ROOT / script).is_file(), f"{source} names {script}, which does not exist"
    subs = SUBCOMMANDS.get(script)
    if subs and len(argv) > 3 and not argv[3].startswith("-") and argv[3] not in subs:
        # a bare query is fine for the memory CLI only
        assert script == ".claude/lib/memory/memory_search.py", f"{source}: unknown subcommand in {argv}"


HELP_CASES = sorted({tuple(_help_argv(argv)) for _, argv in INVOCATIONS if argv[2] not in NO_HELP})
HELP_CASES += [c for c in (("uv", "run", s, "--help") for s in SUBCOMMANDS) if c not in HELP_CASES]


@pytest.mark.parametrize("help_argv", HELP_CASES, ids=[" ".join(a[2:]) for a in HELP_CASES])
def test_answers_help(help_argv):
    result = _run(list(help_argv))
    assert result.returncode == 0, f"{' '.join(help_argv)} exited {result.returncode}: {result.stderr[-500:]}"
    assert len(result.stdout.strip()) > 40, f"{' '.join(help_argv)} printed no real help"


@pytest.mark.parametrize(
    "source,argv", [c for c in INVOCATIONS if any(a.startswith("--") for a in c[1][3:])],
    ids=[" ".join(a) for _, a in INVOCATIONS if any(x.startswith("--") for x in a[3:])],
)  # fmt: skip
def test_options_are_documented(source, argv):
    """Every --option the skill passes appears in that (sub)command's --help."""
    help_text = _run(_help_argv(argv)).stdout
    for option in (a.split("=", 1)[0] for a in argv[3:] if a.startswith("--")):
        assert option in help_text, f"{source} passes {option} but `{' '.join(_help_argv(argv))}` lacks it"


def test_named_repo_files_exist():
    """Paths the skill names (in inline code) exist, apart from the files a night creates."""
    missing = []
    for name, text in all_skill_texts().items():
        for span in inline_code(text):
            token = span.split()[0] if span.split() else span
            if not REPO_FILE.match(token) or RUNTIME_PATHS.match(token):
                continue
            if not (REPO_ROOT / token.rstrip("/")).exists():
                missing.append(f"{name}: {token}")
    assert not missing, "dead references: " + ", ".join(missing)


def test_record_statuses_match_the_ledger():
    from autoresearch import ledger

    records = [a[4:] for _, a in INVOCATIONS if a[2:4] == ["scripts/experiment.py", "record"] and len(a) > 4]
    statuses = {r[2] if r[0] == "--job" else r[0] for r in records if len(r) > (2 if r[0] == "--job" else 0)}
    named = set()
    for status in statuses:
        named |= set(status.split("|")) - {"..."}  # `record ...` in prose
    assert named and named <= set(ledger.STATUSES)
