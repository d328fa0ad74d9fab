"""What a tool call would do, as typed effects: the vocabulary between the reader and the rules.

    effects = reader.read_call(payload, targets)   # Bash, Monitor, the file tools, Read, Grep
    verdict = rules.judge(effects, targets, cfg)    # seven short rules over these records

The reader (`reader.py`, over the generic shell reader `shellparse.py`) knows commands: that `cp a b`
writes b, that `tail -n 50` is a bounded read, that `git add -A` stages what is not ignored. The rules
(`rules.py`) know the protocol: which of those effects break it. Every path is absolute and normalised.

Records are named tuples: immutable, printable, and free to import (`dataclasses` would cost the hook
about 19 ms of its 50 ms budget; `collections` is already loaded by `json`).
"""

from __future__ import annotations

import os
from collections import namedtuple

# Read.extent
WHOLE = "whole"  # prints all of the file, or more than the configured piece
BOUNDED = "bounded"  # a fixed, small piece: tail -n 50, grep of a targeted pattern, wc -l

# Write.kind
REPLACE, APPEND, DELETE, META = "write", "append", "delete", "meta"  # meta: mode, owner, mtime, a link


class Read(namedtuple("Read", "path extent how")):
    """The call prints `path` into the agent's context: all of it (WHOLE) or a bounded piece."""

    __slots__ = ()


_WRITE_FIELDS = "path kind recursive dependency_edit header_only how"


class Write(namedtuple("Write", _WRITE_FIELDS, defaults=(False, False, False, ""))):
    """The call changes `path` (and, when `recursive`, everything under it).

    dependency_edit: the text changes dependency lines (pyproject.toml).
    header_only: it writes just the results header to a results file that holds no row yet (the seed step).
    """

    __slots__ = ()


class Stage(namedtuple("Stage", "path how")):
    """The call would put untracked night data (`path`) into the git index or a commit."""

    __slots__ = ()


class Unignore(namedtuple("Unignore", "path how")):
    """The call would make `.gitignore` stop ignoring `path`."""

    __slots__ = ()


class Clean(namedtuple("Clean", "what how")):
    """The call would delete untracked files wholesale (`git clean`, `git stash -u`); `what` names one."""

    __slots__ = ()


class Install(namedtuple("Install", "what")):
    """The call would install, remove or re-resolve packages."""

    __slots__ = ()


class Train(namedtuple("Train", "stdout stderr")):
    """The call runs the training script; each stream goes to a "file", "pipe", "tty", "capture" or "null"."""

    __slots__ = ()


class LongRun(namedtuple("LongRun", "what")):
    """The call runs for minutes (the supervised runner), so it needs the Bash tool's longest timeout."""

    __slots__ = ()


class SetEnv(namedtuple("SetEnv", "name how")):
    """The call sets environment variable `name` for what it runs."""

    __slots__ = ()


class HooksOff(namedtuple("HooksOff", "how")):
    """The call's text carries Claude Code's switch that turns every hook off."""

    __slots__ = ()


# Opaque.can: what the hidden part can do to a file it names
CAN_READ = "read"  # an argument of a command that only reads
CAN_WRITE = "write"  # a write target (a redirect, cp's destination, rm's argument)
CAN_ANY = "any"  # a program built at run time, or text the shell reader fails on


class Opaque(namedtuple("Opaque", "target label why unreadable can")):
    """Part of the call the reader cannot follow (built at run time, encoded, unparsable) names `target`.

    target: the absolute path (or environment variable name) it names; label: how to print it.
    unreadable: the shell reader failed on the text (else it parsed, but hides an argument or program).
    can: CAN_READ, CAN_WRITE or CAN_ANY, what the hidden part can do with the file.
    """

    __slots__ = ()


def under(path, top):
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def touches(path, target, recursive=False):
    """Does a change to `path` change `target`? Same path, inside it, or (recursive) an ancestor of it."""
    if any(ch in target for ch in "*?["):
        import fnmatch

        return fnmatch.fnmatchcase(path, target)
    return under(path, target) or (recursive and under(target, path))


class Targets:
    """Absolute, symlink-resolved paths of everything the rules talk about, from the config."""

    def __init__(self, cfg, walled=(), kept=False):
        self.cfg = cfg
        self.walled = [os.path.realpath(p) for p in walled]  # the OS sandbox denies every Bash write here
        self.time_budget_env = getattr(cfg, "time_budget_env", None)
        if self.time_budget_env is None:
            from .config import TIME_BUDGET_ENV  # a full Config; the hook's cached one carries the name

            self.time_budget_env = TIME_BUDGET_ENV
        self.root = os.path.realpath(str(cfg.root))
        self.log = self.abs(cfg.log_file)
        self.results = self.abs(cfg.results_file)
        self.train = self.abs(cfg.train_script)
        self.state = self.abs(cfg.state_dir)
        self.memory = self.abs(cfg.memory_dir)
        self.protected = [self.abs(p) for p in cfg.protected_files]
        self.guard = [self.abs(p) for p in cfg.guard_paths]
        self.untracked = [self.abs(p) for p in cfg.untracked_data()]
        self.runner = self.abs(RUNNER_SCRIPT)
        self.memory_cli = self.abs(MEMORY_CLI)
        self.gitignore = self.abs(".gitignore")
        self.lock_files = [g for g in self.guard if os.path.basename(g) == "uv.lock"]
        self.pyproject = [g for g in self.guard if os.path.basename(g) == "pyproject.toml"]
        self.night_data = [self.results, self.log, self.state, self.memory]  # untracked, must survive
        # The keeper puts these back after any call that damaged them (keeper.py). Not the state folder:
        # a STOP sentinel written there is a human's switch the keeper cannot tell from the agent's.
        self.kept = [self.results, self.memory] if kept else []
        self.all = [self.log, self.results, self.state, self.memory, *self.protected, *self.guard]

    def is_walled(self, path):
        return any(under(path, w) for w in self.walled)

    def is_kept(self, path):
        return any(under(path, k) for k in self.kept)

    def abs(self, rel):
        return os.path.normpath(os.path.join(self.root, rel))

    def rel(self, path):
        if path == self.root:
            return "."
        if path.startswith(self.root + os.sep):
            return path[len(self.root) + 1 :]
        return path

    def needles(self):
        """(text, target, label): names whose mere presence in an unreadable command means it may touch
        that target."""
        out = [(os.path.basename(self.log), self.log)]
        out += [(os.path.basename(p), p) for p in self.protected]
        for g in self.guard:
            name = os.path.basename(g)
            out.append((self.rel(g) if "." not in name else name, g))
        out.append((os.path.basename(self.results), self.results))
        out.append((self.rel(self.state), self.state))
        out.append((self.rel(self.memory), self.memory))
        out.append((self.time_budget_env, self.time_budget_env))
        return [(n, target, self.rel(target)) for n, target in out if n and n != "."]


RUNNER_SCRIPT = "scripts/experiment.py"  # the supervised runner (writes run.log itself)
MEMORY_CLI = ".claude/lib/memory/memory_search.py"  # the only writer of the memory files
