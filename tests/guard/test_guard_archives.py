"""Extracting a whole archive writes every member, so the guard lists it (zip directory, tar headers)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from autoresearch import config, policy
from guard_helpers import make_project


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name in members:
            archive.writestr(name, "TIME_BUDGET = 5\n")


def write_tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name in members:
            data = b"x\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("archives") / "proj", ignore_data=True)
    write_zip(root / "harness.zip", ["notes/readme.txt", "prepare.py"])
    write_zip(root / "ideas.zip", ["ideas/a.txt", "ideas/b.txt"])
    write_tar(root / "hooks.tgz", [".claude/hooks/pre_tool_use.py"])
    write_tar(root / "ideas.tgz", ["ideas/c.txt"])
    write_tar(root / "escape.tgz", ["ideas/../prepare.py"])
    (root / "corrupt.zip").write_bytes(b"not a zip")
    return root


def verdict(root, command):
    payload = {"tool_name": "Bash", "tool_input": {"command": command}, "cwd": str(root)}
    return policy.evaluate(payload, config.load(root))


@pytest.mark.parametrize(
    "command, rule",
    [
        ("unzip harness.zip", "protected-files"),
        ("unzip -o -q harness.zip", "protected-files"),
        ("cd ideas_dir 2>/dev/null; unzip {root}/harness.zip -d {root}", "protected-files"),
        ("tar -xzf hooks.tgz", "guard-integrity"),
        ("tar xzf hooks.tgz", "guard-integrity"),
        ("tar -x -z -f hooks.tgz", "guard-integrity"),
        ("tar --extract --gzip --file=hooks.tgz", "guard-integrity"),
        ("tar -xzf escape.tgz", "protected-files"),
    ],
)
def test_extracting_an_archive_that_holds_a_guarded_file_is_denied(root, command, rule):
    decision = verdict(root, command.format(root=root))
    assert not decision.allowed and decision.rule == rule, decision


@pytest.mark.parametrize(
    "command",
    [
        "unzip ideas.zip",
        "unzip -d sandbox harness.zip",  # prepare.py lands in sandbox/, not the harness
        "unzip -l harness.zip",  # listing writes nothing
        "unzip -p harness.zip prepare.py",  # to stdout
        "tar -tzf hooks.tgz",
        "tar -xzf ideas.tgz",
        "tar -xzf hooks.tgz -C sandbox",
        "unzip missing.zip",  # unzip's own error
        "unzip corrupt.zip",  # cannot be listed, and names no guarded file
    ],
)
def test_extracting_elsewhere_or_harmless_archives_is_allowed(root, command):
    decision = verdict(root, command)
    assert decision.allowed, decision


def test_an_unlistable_archive_is_denied_when_the_command_names_a_guarded_file(root):
    decision = verdict(root, "unzip corrupt.zip; echo prepare.py")
    assert not decision.allowed and decision.rule == "protected-files"
