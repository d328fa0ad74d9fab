"""The keeper: the night's untracked data, journaled where the agent's shell cannot write (docs/guards.md,
"Who owns the night's data").

The ledger (results.tsv), the runner's sidecar and state (.autoresearch/runs.jsonl, state.json), the saved
models of the baseline and the keeps (.autoresearch/artifacts) and the memory entries live in the project,
where every sandboxed Bash command may write. Hooks run outside the sandbox, so after every tool call
(PostToolUse, PostToolUseFailure), at every stop and at every session start the keeper compares those files
with its own journal in the vault, a folder outside the project (VAULT_DIR, one folder per project):

    grown by whole rows / entries   the new ones are journaled (a `record`, the seed's `>> results.tsv`)
    unchanged (same stat)           nothing is read: the fast path, a few stat calls
    removed, moved, compressed,     put back atomically: every journaled row or entry, then whatever was
    truncated, rows changed         appended since (and rows `record` wrote to the sidecar but that vanished
                                    from the ledger); the replaced file is kept in the vault's displaced/;
                                    the agent is told in one sentence, with the allowed way

The vault (under `~`, which the sandbox keeps read-only, and named in the settings' deny rules):

    <VAULT_DIR>/<project-id>/ROOT       the project's real path
                             index      the stat of every kept path at the last check (the fast path)
                             night/     journals of this night: results.tsv, runs.jsonl, state.json,
                                        artifacts/ (hard links to the saved models, same filesystem only)
                             memory/    journals of the memory files
                             nights/    earlier nights' journals, moved there when setup starts a new one
                             displaced/ every file a restore replaced, and journals set aside as unreadable

Stdlib only, and `os` alone until the fast path has answered (json, pathlib and the config cost the hook
10-30 ms each); the rest is imported when something changed. Never raises into a hook.
"""

import os

VAULT_DIR = "~/.local/state/autoresearch"  # the one home of the vault's location; `~` is the hook's HOME
VAULT_ENV = "AUTORESEARCH_VAULT"  # another base folder (the test suite's tmp dirs); set where Claude starts
INDEX_NAME = "index"
INDEX_MAGIC = "autoresearch-keeper-index 2"
LOCK_NAME = "keeper.lock"
VAULT_LOCK_SECONDS = 10.0  # parallel tool calls fire their hooks at once: they take turns
WRITER_LOCK_SECONDS = 2.0  # the ledger's and the memory store's own locks; a holder that never lets go
# is not an honest writer (those hold it for milliseconds), so the keeper restores anyway
ARTIFACT_SUFFIXES = (".pt2", ".pt2.json")
IDENTITY = ("tag", "branch", "baseline_commit", "created_at", "protected_hashes", "baseline_repeats")


# --- the fast path: os only ---


def vault_base(base=None):
    return os.path.expanduser(base or os.environ.get(VAULT_ENV) or VAULT_DIR)


def project_id(root):
    """`<folder name>-<crc32 of the real path>`: readable, stable, one per checkout."""
    import zlib

    real = os.path.realpath(root)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in os.path.basename(real))[:40]
    return (name or "root") + "-" + format(zlib.crc32(real.encode("utf-8", "surrogateescape")), "08x")


def vault_path(root, base=None):
    return os.path.join(vault_base(base), project_id(root))


def stat_key(path):
    """What changes whenever the file's content can have changed (ctime cannot be set back by `touch`)."""
    try:
        st = os.lstat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_mode:o}"


def read_index(vault):
    """{path: stat key} from the last check, or None when there is none (or it is not ours)."""
    try:
        with open(os.path.join(vault, INDEX_NAME), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except (OSError, ValueError):
        return None
    if not lines or lines[0] != INDEX_MAGIC:
        return None
    index = {}
    for line in lines[1:]:
        key, tab, path = line.partition("\t")
        if tab:
            index[path] = key
    return index


def unchanged(root, base=None):
    """True when every kept path still has the stat the last check recorded. Never raises."""
    try:
        index = read_index(vault_path(root, base))
        return bool(index) and all(stat_key(path) == key for path, key in index.items())
    except Exception:  # noqa: BLE001 - any doubt means the full check
        return False


# --- the report ---


class Report:
    """What one check did: sentences for the agent (restores) and one-line problems."""

    def __init__(self):
        self.restored = []
        self.errors = []
        self.journaled = []  # labels of the files whose journal grew (for tests and the bench)

    def __bool__(self):
        return bool(self.restored or self.errors)

    def text(self):
        return " ".join(self.restored + self.errors)


class KeeperError(Exception):
    """A problem with one kept file, worded as one line."""


# --- the kept files ---


class Kept:
    """One kept file: where it lives, where its journal is, what a unit is called, who may write it
    (`way`: a key of allowed_ways; `lock`: the writer's lock file, or a function that names it)."""

    def __init__(self, label, live, journal, unit, kind, lock=None, way="runner"):
        self.label, self.live, self.journal, self.unit = label, str(live), str(journal), unit
        self.kind, self.lock, self.way = kind, lock, way

    def lock_path(self):
        return self.lock() if callable(self.lock) else self.lock


def allowed_ways(cfg):
    """The allowed way, per kind of file: the end of every sentence the keeper says (one home)."""
    from . import status

    try:
        from memory import store

        memory_cli = store.CLI
    except Exception:  # noqa: BLE001 - the sentence still names the folder
        memory_cli = "uv run .claude/lib/memory/memory_search.py"
    return {
        "ledger": f"{cfg.results_file} only grows: append rows with `{status.CLI} record ...` or "
        f'`echo -e "..." >> {cfg.results_file}`',
        "runner": f"only `{status.CLI}` writes {cfg.state_dir}/",
        "memory": f"add entries only with `{memory_cli} add ...`",
    }


def memory_names():
    try:
        from memory import entries

        return [name for _, name, _ in entries.KINDS.values()]
    except Exception:  # noqa: BLE001 - the memory package is part of the install; this is its layout
        return ["learnings.md", "issues.md", "decisions.md"]


def memory_lock_name():
    try:
        from memory import store

        return store.LOCK_NAME
    except Exception:  # noqa: BLE001
        return "memory.lock"


def kept_files(cfg, vault):
    """The keeper's file list, in the order they are checked (the sidecar before the ledger)."""
    night = os.path.join(vault, "night")
    rel = os.path.relpath
    root = str(cfg.root)
    files = [
        Kept(rel(cfg.sidecar_path, root), cfg.sidecar_path, os.path.join(night, "runs.jsonl"), "record",
             "lines", str(cfg.sidecar_path) + ".lock"),
        Kept(cfg.results_file, cfg.results_path, os.path.join(night, "results.tsv"), "row", "ledger",
             str(cfg.results_path) + ".lock", "ledger"),
        Kept(rel(cfg.state_file, root), cfg.state_file, os.path.join(night, "state.json"), "state", "state"),
    ]  # fmt: skip

    def lock():  # memory.store is imported only when a memory file needs putting back
        return os.path.join(str(cfg.memory_path), memory_lock_name())

    for name in memory_names():
        live = os.path.join(str(cfg.memory_path), name)
        files.append(Kept(rel(live, root), live, os.path.join(vault, "memory", name), "entry", "memory",
                          lock, "memory"))  # fmt: skip
    return files


def watched_paths(cfg):
    """Besides the kept files: what the fast path must also see change (the last one: git's index)."""
    return [str(cfg.artifact_dir), str(cfg.root / "pyproject.toml"), git_index(cfg)]


def git_index(cfg):
    return os.path.join(str(cfg.root), ".git", "index")


def ignore_files(cfg):
    """What decides whether git ignores the night's data, besides settings the sandbox keeps read-only
    (.git/config, $HOME): the project's .gitignore, .git/info/exclude, and a .gitignore in any folder on the
    way to the memory files (a deeper one wins; the state folder is ignored whole, so none inside counts)."""
    root = str(cfg.root)
    files = [os.path.join(root, ".gitignore"), os.path.join(root, ".git", "info", "exclude")]
    parts = os.path.relpath(str(cfg.memory_path), root).split(os.sep)
    for depth in range(1, len(parts) + 1):
        if parts[0] != "..":
            files.append(os.path.join(root, *parts[:depth], ".gitignore"))
    return files


STOP_MARK = "STOP"  # in the vault's night/: the human's copy of the STOP sentinel's token


def stop_mark(vault):
    return os.path.join(vault, "night", STOP_MARK)


def raise_stop(cfg, base=None):
    """The human's stop (`experiment.py stop`, outside Claude Code): the same token in the sentinel and in
    the vault, which the agent's shell cannot write. A sentinel without it is not the human's."""
    import time

    token = f"stop {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.urandom(8).hex()}\n".encode()
    mark = stop_mark(vault_path(str(cfg.root), base))
    os.makedirs(os.path.dirname(mark), mode=0o700, exist_ok=True)
    write_atomic(mark, token)
    cfg.state_path.mkdir(parents=True, exist_ok=True)
    write_atomic(str(cfg.stop_sentinel), token)


def lower_stop(cfg, base=None) -> bool:
    """`experiment.py stop --resume`: the mark goes first, so no check puts the sentinel back.

    True when a stop was up."""
    mark = stop_mark(vault_path(str(cfg.root), base))
    was = os.path.exists(mark) or cfg.stop_sentinel.exists()
    for path in (mark, str(cfg.stop_sentinel)):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    return was


def keep_stop(cfg, vault, report):
    """Only the human raises or lowers the STOP sentinel: one without the vault's token is taken away, and
    the human's, removed by a call, is put back."""
    from .status import CLI

    live, _ = read_live(str(cfg.stop_sentinel))
    mark = read_journal(stop_mark(vault))
    sentinel = f"{cfg.state_dir}/{cfg.stop_sentinel.name}"
    if live is not None and live != mark:
        displace(vault, sentinel, live or b"(empty)")
        os.remove(str(cfg.stop_sentinel))
        report.restored.append(
            f"autoresearch keeper: {sentinel} was not raised by the human (`{CLI} stop` in their own "
            "terminal), so the keeper took it away: only the human stops the night; carry on."
        )
    elif live is None and mark is not None:
        write_atomic(str(cfg.stop_sentinel), mark)
        report.restored.append(
            f"autoresearch keeper: the human's {sentinel} was removed, so the keeper put it back: finish and "
            f"record the step in hand, then stop (only the human resumes, with `{CLI} stop --resume`)."
        )


def ignore_probes(cfg):
    """One path per kind of night data, as git must see it: ignored."""
    memory = os.path.relpath(str(cfg.memory_path), str(cfg.root))
    return [cfg.results_file, cfg.log_file, f"{cfg.state_dir}/state.json", f"{memory}/{memory_names()[0]}"]


def _nested_sources(cfg, probes):
    """The .gitignore files below the root whose `!` lines make these probes count as not ignored."""
    import subprocess

    proc = subprocess.run(
        ["git", "-C", str(cfg.root), "check-ignore", "--no-index", "-v", "-n", *probes],
        capture_output=True, timeout=20, check=False,
    )  # fmt: skip
    found = set()
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        source, _, rest = line.partition(":")
        pattern = rest.partition(":")[2].partition("\t")[0]
        if source.endswith(".gitignore") and source != ".gitignore" and pattern.startswith("!"):
            found.add(source)
    return sorted(found)


def keep_ignored(cfg, vault, report):
    """A call made git stop ignoring the night's data (.gitignore edited, moved, emptied, a `!` line): put
    .gitignore back as it was the last time everything was ignored, the replaced one kept in displaced/.
    An edit that keeps the data ignored (`echo results.tsv >> .gitignore`) is simply taken as the new copy."""
    from . import gitutil

    probes = ignore_probes(cfg)
    missing = gitutil.not_ignored(cfg.root, probes)
    live_path, good_path = ignore_files(cfg)[0], os.path.join(vault, "gitignore")
    live, _ = read_live(live_path)
    if not missing:
        if live is not None and live != read_journal(good_path):
            write_atomic(good_path, live)
        return
    removed = []
    for rel in _nested_sources(cfg, missing):  # a .gitignore planted deeper: it goes (kept in displaced/)
        path = os.path.join(str(cfg.root), rel)
        data, _ = read_live(path)
        displace(vault, rel, data)
        os.remove(path)
        removed.append(rel)
    if removed and not gitutil.not_ignored(cfg.root, probes):
        report.restored.append(
            f"autoresearch keeper: {', '.join(removed)} made git stop ignoring {', '.join(missing[:3])}, so "
            f"the keeper removed it: the night's data stays untracked (stage files by name, e.g. `git add "
            f"{cfg.train_script}`)."
        )
        return
    good = read_journal(good_path)
    if good is None:  # never seen ignoring everything: add the patterns (whole folders, as shipped)
        memory = os.path.relpath(str(cfg.memory_path), str(cfg.root))
        patterns = [cfg.results_file, cfg.log_file, f"{cfg.state_dir}/", f"{memory}/"]
        added = "\n# put back by the autoresearch keeper\n" + "\n".join(patterns) + "\n"
        good = (live or b"") + added.encode("utf-8")
    displace(vault, ".gitignore", live)
    write_atomic(live_path, good)
    still = gitutil.not_ignored(cfg.root, probes)
    names = ", ".join(missing[:3])
    report.restored.append(
        f"autoresearch keeper: git stopped ignoring {names}, so the keeper put .gitignore back"
        + (f" (still not ignored: {', '.join(still)}; check .git/info/exclude)" if still else "")
        + f": the night's data stays untracked (stage files by name, e.g. `git add {cfg.train_script}`)."
    )


def untracked_names(cfg):
    """The night's data as git pathspecs: never in the index (the memory README is tracked, so by name)."""
    memory = [f"{os.path.relpath(str(cfg.memory_path), str(cfg.root))}/{n}" for n in memory_names()]
    return [cfg.results_file, cfg.log_file, cfg.state_dir, *memory]


def unstage_night_data(cfg, report):
    """A call staged the night's data (`git add -f`, a script, an alias, plumbing): take it out of the index
    again. The files stay on disk. What a commit already holds is left to the runner, which refuses to run."""
    import subprocess

    def git(*argv):
        proc = subprocess.run(
            ["git", "-C", str(cfg.root), *argv], capture_output=True, timeout=20, check=False
        )
        if proc.returncode != 0:
            raise OSError(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git failed"])
        return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]

    specs = untracked_names(cfg)
    staged = git("ls-files", "--cached", "-z", "--", *specs)
    if not staged:
        return
    committed = set(git("ls-tree", "-r", "--name-only", "-z", "HEAD", "--", *specs))
    fresh = [p for p in staged if p not in committed]
    if fresh:
        git("rm", "--cached", "-q", "--ignore-unmatch", "--", *fresh)
        one = len(fresh) == 1
        report.restored.append(
            f"autoresearch keeper: {', '.join(fresh[:3])} {'was' if one else 'were'} staged, so the keeper "
            f"took {'it' if one else 'them'} out of the git index again: the night's data stays untracked "
            f"(stage files by name, e.g. `git add {cfg.train_script}`)."
        )


# --- small file helpers ---


def _stamp():
    import time

    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() // 1000 % 1000000:06d}"


def _safe(text):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))[:80] or "unknown"


def read_live(path):
    """(bytes or None, why it counts as damaged or ''). A missing file is None; a link or a folder in its
    place is damage the keeper reports."""
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise KeeperError(f"cannot look at {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        return None, "was replaced by a link"
    if not stat.S_ISREG(st.st_mode):
        return None, "was replaced by something that is not a file"
    try:
        with open(path, "rb") as fh:
            return fh.read(), ""
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise KeeperError(f"cannot read {path}: {exc.strerror}") from None


def read_journal(path):
    """The journal's bytes, None when there is none yet; KeeperError when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeeperError(exc.strerror or exc.__class__.__name__) from None


def write_atomic(path, data):
    from . import fsutil

    fsutil.atomic_write(path, data)


def append_journal(path, data):
    """Append to a journal (the only way a journal grows), creating its folder."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def displace(vault, name, data):
    """Keep `data` (what a restore replaces) in the vault's displaced/ folder; never deleted."""
    if not data:
        return
    folder = os.path.join(vault, "displaced")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    with open(os.path.join(folder, _stamp() + "-" + _safe(name)), "wb") as fh:
        fh.write(data)


def set_aside(vault, path, name):
    """Move an unreadable journal out of the way (never delete it)."""
    folder = os.path.join(vault, "displaced")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.replace(path, os.path.join(folder, _stamp() + "-journal-" + _safe(name)))


def writer_lock(lock_path):
    """The writer's own lock (the ledger's, the memory store's), so a restore never races an honest append.

    Best effort: no folder yet (nobody can be appending), or a holder that does not let go within
    WRITER_LOCK_SECONDS (an honest writer holds it for milliseconds), and the restore goes ahead."""
    import contextlib

    if not lock_path or not os.path.isdir(os.path.dirname(lock_path)):
        return contextlib.nullcontext()
    from . import fsutil

    stack = contextlib.ExitStack()
    try:
        stack.enter_context(fsutil.lock(lock_path, WRITER_LOCK_SECONDS))
    except (TimeoutError, OSError):
        pass
    return stack


# --- reconciling one file with its journal ---


def _n(count, unit):
    """`1 row`, `2 rows`, `3 entries`."""
    if count == 1:
        return f"{count} {unit}"
    return f"{count} {unit[:-1]}ies" if unit.endswith("y") else f"{count} {unit}s"


def _complete(data):
    """Up to the last newline: an append in progress is journaled next time."""
    return data[: data.rfind(b"\n") + 1]


def _lines(data):
    return data.split(b"\n")[:-1]


def ledger_header():
    from . import ledger

    return (ledger.HEADER + "\n").encode("utf-8")


def check_journal(kept, journal):
    """KeeperError when a journal's content cannot be ours (it is set aside, the live file untouched)."""
    if journal is None or not journal:
        return
    if kept.kind == "ledger" and not journal.startswith(ledger_header()):
        raise KeeperError("it does not start with the ledger's header")
    if kept.kind == "state" and _state(journal) is None:
        raise KeeperError("it is not a version-1 state file")


def _state(data):
    import json

    from . import state

    try:
        value = json.loads(data)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) and value.get("version") == state.VERSION else None


def _tail(units, known):
    """The trailing units that the journal does not hold: what was appended after the damage."""
    tail = []
    for unit in reversed(units):
        if unit in known:
            break
        tail.append(unit)
    tail.reverse()
    return tail


def _merge_recorded(tail, recorded, known):
    """Rows `record` wrote (seen in the sidecar) that the ledger lost, merged into the tail in order."""
    order = {row: i for i, row in enumerate(recorded)}
    pending = [row for row in recorded if row not in known and row not in tail]
    merged = []
    for line in tail:
        while pending and line in order and order[pending[0]] < order[line]:
            merged.append(pending.pop(0))
        merged.append(line)
    return merged + pending, len([r for r in recorded if r not in known and r not in tail])


def reconcile_lines(kept, journal, live, recorded=()):
    """(new journal, bytes to restore or None, what happened, lost, added) for a line-per-unit file.

    `recorded`: ledger lines of the rows `record` appended since the last check (from the sidecar)."""
    journal = journal or b""
    header = ledger_header() if kept.kind == "ledger" else b""
    jlines = _lines(journal)
    counted = jlines[1:] if header else jlines
    done = _complete(live) if live is not None else None
    if done is not None and done.startswith(journal):
        lines = set(_lines(done))
        missing = [row for row in recorded if row not in lines]
        if not missing:
            if not journal and header and not done.startswith(header):
                return journal, None, "", 0, 0  # not a ledger yet: nothing to lose, nothing journaled
            return done, None, "", 0, 0
    if done is None and not counted and not recorded:
        return journal, None, "", 0, 0  # a header alone (or nothing) was removed: nothing lost
    known = set(jlines)
    units = [] if done is None else [line for line in _lines(done) if line != header.rstrip(b"\n")]
    tail = _tail(units, known)
    tail, from_sidecar = _merge_recorded(tail, [r for r in recorded if r not in known], known)
    if not journal and header:
        journal = header
    restored = journal + b"".join(line + b"\n" for line in tail)
    present = set(units)
    lost = sum(1 for line in counted if line not in present)
    changed = len([u for u in units if u not in known]) - (len(tail) - from_sidecar)
    if done is None:
        what = "was removed, moved or compressed"
    elif lost or changed > 0:
        parts = [f"lost {lost} of its {_n(len(counted), kept.unit)}"] if lost else []
        parts += [f"had {_n(changed, kept.unit)} changed"] if changed > 0 else []
        what = " and ".join(parts)
    elif from_sidecar:
        what = f"lost {_n(from_sidecar, kept.unit)} that `record` had appended"
    elif restored == done:
        return restored, None, "", 0, 0  # only a partial line went: nothing to put back
    else:
        what = "lost its header" if header else "was cut short"
    return restored, restored, what, lost, len(tail)


def _blocks(data):
    from memory import entries

    text = data.decode("utf-8", "surrogateescape")
    return [b.encode("utf-8", "surrogateescape") for b in entries.split_blocks(text)]


def reconcile_entries(kept, journal, live):
    """The same for a memory file, whose unit is an entry (a `## ` block)."""
    journal = journal or b""
    done = _complete(live) if live is not None else None
    if done is not None and done.startswith(journal):
        return done, None, "", 0, 0
    jblocks = _blocks(journal)[1:]
    if done is None and not jblocks:
        return journal, None, "", 0, 0
    known = {b.strip() for b in jblocks}
    lblocks = _blocks(done)[1:] if done else []
    tail = []
    for block in reversed(lblocks):
        if block.strip() in known:
            break
        tail.append(block)
    tail.reverse()
    sep = b"" if not journal or journal.endswith(b"\n\n") else (b"\n" if journal.endswith(b"\n") else b"\n\n")
    body = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in tail)
    restored = journal + (sep + body if tail else b"")
    present = {b.strip() for b in lblocks}
    lost = sum(1 for b in jblocks if b.strip() not in present)
    if done is None:
        what = "was removed, moved or compressed"
    else:
        what = f"lost {lost} of its {_n(len(jblocks), kept.unit)}" if lost else "had entries changed"
        if not lost and restored == done:
            return restored, None, "", 0, 0
    return restored, restored, what, lost, len(tail)


def reconcile_state(kept, journal, live):
    """(new journal, bytes to restore or None, what happened) for state.json: the runner rewrites it
    atomically, so any valid state is journaled; its setup facts (IDENTITY) never change within a night."""
    import json

    old = _state(journal) if journal else None
    if live is None:
        if old is None:
            return journal, None, ""
        return journal, journal, "was removed, moved or compressed"
    new = _state(live)
    if new is None:
        if old is None:
            return journal, None, ""  # never a state here: nothing to lose
        return journal, journal, "was overwritten with something that is not a state file"
    if old is None or (old.get("tag"), old.get("created_at")) != (new.get("tag"), new.get("created_at")):
        return live, None, ""
    changed = [k for k in IDENTITY if new.get(k) != old.get(k)]
    if not changed:
        return live, None, ""
    merged = dict(new)
    merged.update({k: old[k] for k in IDENTITY if k in old})
    data = (json.dumps(merged, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return data, data, f"had its setup facts changed ({', '.join(changed)})"


# --- one check ---


def load_cfg(root):
    from . import config

    try:
        return config.load(root)
    except config.ConfigError:
        return config.Config(root=root)  # the default names: the files still need keeping


def check(root=None, *, cfg=None, base=None, full=False):
    """Compare every kept file with its journal; journal growth, restore damage. Returns a Report.

    `full` reads every file (Stop, SessionStart); otherwise only the files whose stat changed."""
    report = Report()
    try:
        cfg = cfg or load_cfg(root)
        vault = vault_path(str(cfg.root), base)
        os.makedirs(vault, mode=0o700, exist_ok=True)
        _check_root_file(vault, str(cfg.root))
        from . import fsutil

        with fsutil.lock(os.path.join(vault, LOCK_NAME), VAULT_LOCK_SECONDS):
            _check_locked(cfg, vault, full, report)
    except TimeoutError:
        report.errors.append("autoresearch keeper: its vault is locked by another check; checked next call.")
    except Exception as exc:  # noqa: BLE001 - a hook never crashes; this is its one line
        report.errors.append(f"autoresearch keeper: check failed ({exc.__class__.__name__}: {exc}).")
    return report


def _check_root_file(vault, root):
    path = os.path.join(vault, "ROOT")
    real = os.path.realpath(root)
    try:
        with open(path, encoding="utf-8") as fh:
            found = fh.read().strip()
    except FileNotFoundError:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(real + "\n")
        return
    if found != real:
        raise KeeperError(f"{vault} belongs to {found}, not {real} (same folder name and checksum)")


def _check_locked(cfg, vault, full, report):
    index = read_index(vault) or {}
    watching = bool(index)  # an earlier check saw this project: a file with no journal yet is new since
    files = kept_files(cfg, vault)
    extra = watched_paths(cfg)
    everything = full or not index or any(stat_key(p) != index.get(p) for p in extra[1:-1])
    todo = {k.live for k in files if everything or stat_key(k.live) != index.get(k.live)}
    bad = set()
    state_kept = next(k for k in files if k.kind == "state")
    if state_kept.live in todo and _new_night(cfg, vault, report):
        todo = {k.live for k in files}
    recorded = []
    for kept in files:
        if kept.live not in todo and not (kept.kind == "ledger" and recorded):
            continue
        try:
            found = _keep_one(cfg, vault, kept, report, recorded, watching)
            if kept.kind == "lines":
                recorded = found
        except KeeperError as exc:
            bad.add(kept.live)
            report.errors.append(f"autoresearch keeper: {kept.label}: {exc}.")
        except OSError as exc:
            bad.add(kept.live)
            report.errors.append(
                f"autoresearch keeper: {kept.label}: {exc.strerror or exc}; the journal in {vault} keeps "
                "every journaled unit."
            )
    try:
        keep_artifacts(cfg, vault, report)
    except OSError as exc:
        report.errors.append(f"autoresearch keeper: saved models: {exc.strerror or exc}.")
    ignores = ignore_files(cfg)
    if everything or any(stat_key(p) != index.get(p) for p in ignores):
        try:
            keep_ignored(cfg, vault, report)
        except (OSError, ValueError, KeeperError) as exc:  # git missing: said once, tried next call
            report.errors.append(f"autoresearch keeper: could not check what git ignores ({exc}).")
    stops = [str(cfg.stop_sentinel), stop_mark(vault)]
    if everything or any(stat_key(p) != index.get(p) for p in stops):
        try:
            keep_stop(cfg, vault, report)
        except (OSError, KeeperError) as exc:
            report.errors.append(f"autoresearch keeper: could not check the STOP sentinel ({exc}).")
    if everything or stat_key(extra[-1]) != index.get(extra[-1]):
        try:
            unstage_night_data(cfg, report)
        except (OSError, ValueError) as exc:  # git missing, a held index.lock: said once, tried next call
            report.errors.append(f"autoresearch keeper: could not check the git index ({exc}).")
    paths = [k.live for k in files] + extra + ignores + stops
    lines = [INDEX_MAGIC] + [("?" if p in bad else stat_key(p)) + "\t" + p for p in paths]
    write_atomic(os.path.join(vault, INDEX_NAME), ("\n".join(lines) + "\n").encode("utf-8"))


def _recorded_rows(new_records):
    """Ledger lines of the rows `record` wrote, from sidecar lines (one JSON object each)."""
    import json

    from . import ledger

    rows = []
    for line in new_records:
        try:
            record = json.loads(line)
            row = ledger.row_of_record(record)
        except (ValueError, TypeError, ledger.LedgerError):
            continue
        if row is not None:
            rows.append(row.encode("utf-8"))
    return rows


def _keep_one(cfg, vault, kept, report, recorded, watching=True):
    """Check one file; returns, for the sidecar, the ledger lines of its records new since last time."""
    try:
        journal = read_journal(kept.journal)
        check_journal(kept, journal)
    except KeeperError as exc:
        if os.path.lexists(kept.journal):
            set_aside(vault, kept.journal, os.path.basename(kept.journal))
        journal = None
        report.errors.append(
            f"autoresearch keeper: its journal of {kept.label} could not be used ({exc}), so it was set "
            f"aside in {vault}/displaced and restarted from the live file; nothing was restored or deleted."
        )
    live, why = read_live(kept.live)
    outcome = _reconcile(kept, journal, live, recorded)
    if outcome[1] is not None or why:
        with writer_lock(kept.lock_path()):  # again under the writer's lock: an honest append may have landed
            live, why = read_live(kept.live)
            outcome = _reconcile(kept, journal, live, recorded)
            restore, what = outcome[1], outcome[2]
            if why and restore is None and journal:  # a link or a folder where a file with no loss was
                restore, what = journal, why
                outcome = (journal, journal, why, 0, 0)
            if restore is not None:
                if os.path.isdir(kept.live) and not os.path.islink(kept.live):
                    raise KeeperError(f"{what}, and a folder now stands in its place; the journal keeps it")
                displace(vault, kept.label, live)
                if os.path.islink(kept.live):
                    os.unlink(kept.live)
                write_atomic(kept.live, restore)
                report.restored.append(_sentence(cfg, vault, kept, why or what, outcome))
    new_journal = outcome[0]
    grown = _journal_grow(kept, journal, new_journal)
    if grown:
        report.journaled.append(kept.label)
    if kept.kind == "lines" and (journal is not None or watching):  # the very first check has no "since"
        return _recorded_rows(_lines(new_journal[len(journal or b"") :]))
    return []


def _reconcile(kept, journal, live, recorded):
    if kept.kind == "state":
        return reconcile_state(kept, journal, live)
    if kept.kind == "memory":
        return reconcile_entries(kept, journal, live)
    return reconcile_lines(kept, journal, live, recorded if kept.kind == "ledger" else ())


def _journal_grow(kept, journal, new_journal):
    """Bring the journal up to date: append for the append-only files, replace for the state."""
    old = journal or b""
    if new_journal is None or new_journal == old:
        return False
    if kept.kind == "state":
        write_atomic(kept.journal, new_journal)
    elif new_journal.startswith(old):
        append_journal(kept.journal, new_journal[len(old) :])
    else:  # cannot happen: a restore starts with the journal; keep the old one rather than lose it
        set_aside(
            os.path.dirname(os.path.dirname(kept.journal)), kept.journal, os.path.basename(kept.journal)
        )
        append_journal(kept.journal, new_journal)
    return True


def _sentence(cfg, vault, kept, what, outcome):
    short = vault.replace(os.path.expanduser("~"), "~", 1)
    if kept.kind == "state":
        put = "its last good copy"
    else:
        added = outcome[4]
        total = len(_lines(outcome[1])) - (1 if kept.kind == "ledger" else 0)
        if kept.kind == "memory":
            total = len(_blocks(outcome[1])[1:])
        put = f"all {_n(total, kept.unit)}"
        put += f", {added} of them appended after the damage" if added else ""
    return (
        f"autoresearch keeper: {kept.label} {what}, so the keeper put back {put} from its journal outside "
        f"the project ({short}); {allowed_ways(cfg)[kept.way]}."
    )


# --- a new night ---


def _new_night(cfg, vault, report):
    """setup started a new night (another tag or created_at in a valid state.json): earlier journals move
    to nights/; if the old ledger is not in the project's archive, the keeper puts a copy there."""
    night = os.path.join(vault, "night")
    old = _state(read_journal(os.path.join(night, "state.json")) or b"")
    live, _why = read_live(str(cfg.state_file))
    new = _state(live) if live else None
    if old is None or new is None:
        return False
    if (old.get("tag"), old.get("created_at")) == (new.get("tag"), new.get("created_at")):
        return False
    ledger_journal = read_journal(os.path.join(night, "results.tsv")) or b""
    header = ledger_header()
    if ledger_journal[len(header) :].strip() and not _archived(cfg, ledger_journal):
        folder = cfg.state_path / "archive" / f"{_safe(old.get('tag'))}-kept-{_stamp()}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("results.tsv", "runs.jsonl", "state.json"):
            data = read_journal(os.path.join(night, name))
            if data:
                write_atomic(folder / name, data)
        rows = len(_lines(ledger_journal)) - 1
        report.restored.append(
            f"autoresearch keeper: a new night ({new.get('tag')}) began while night {old.get('tag')}'s "
            f"{cfg.results_file} was not in {cfg.state_dir}/archive, so the keeper put its {rows} rows there "
            f"({os.path.relpath(folder, cfg.root)}); {allowed_ways(cfg)['runner']}."
        )
    target = os.path.join(vault, "nights", _safe(f"{old.get('tag')}-{old.get('created_at')}"))
    suffix = 1
    while os.path.lexists(target):
        target = os.path.join(vault, "nights", _safe(f"{old.get('tag')}-{old.get('created_at')}-{suffix}"))
        suffix += 1
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    os.replace(night, target)
    return True


def _archived(cfg, ledger_journal):
    """True when some archived results.tsv holds every journaled row (setup moves the old ledger there)."""
    folder = cfg.state_path / "archive"
    if not folder.is_dir():
        return False
    for path in folder.glob("*/" + cfg.results_file):
        try:
            if path.read_bytes().startswith(ledger_journal):
                return True
        except OSError:
            continue
    return False


# --- the saved models ---


def _needed_commits(vault):
    """Commits whose saved model the morning report needs: the baseline, the incumbent, every keep, and an
    unrecorded run (it may become a keep). Read from the journals, not from the project."""
    import json

    night = os.path.join(vault, "night")
    st = _state(read_journal(os.path.join(night, "state.json")) or b"") or {}
    needed = {st.get("baseline_commit"), st.get("incumbent_commit")}
    last = st.get("last_run") or {}
    if isinstance(last, dict) and not last.get("recorded"):
        needed.add(last.get("commit"))
    for line in _lines(read_journal(os.path.join(night, "runs.jsonl")) or b""):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("status") == "keep":
            needed.add(record.get("commit"))
    return {c for c in needed if isinstance(c, str) and c}


def keep_artifacts(cfg, vault, report):
    """Hard-link each saved model into the vault; link a needed one back when it vanished from the project.

    A hard link costs no space but shares the file: it survives `rm`, `git clean` and `rm -rf .autoresearch`,
    not a write into the file itself (the attestation's artifact_sha256 in the sidecar tells). Across
    filesystems nothing is linked (docs/guards.md)."""
    live_dir = str(cfg.artifact_dir)
    vdir = os.path.join(vault, "night", "artifacts")
    try:
        live_names = {n for n in os.listdir(live_dir) if n.endswith(ARTIFACT_SUFFIXES)}
    except (FileNotFoundError, NotADirectoryError):
        live_names = set()
    try:
        kept_names = set(os.listdir(vdir))
    except FileNotFoundError:
        kept_names = set()
    if not live_names and not kept_names:
        return
    for name in sorted(live_names):
        src, dst = os.path.join(live_dir, name), os.path.join(vdir, name)
        try:
            if os.path.samefile(src, dst):
                continue
        except OSError:
            pass
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        os.makedirs(vdir, mode=0o700, exist_ok=True)
        try:
            if os.path.lexists(dst):
                os.unlink(dst)
            os.link(src, dst)
        except OSError:
            return  # another filesystem (EXDEV) or no links here: the models are not kept (documented)
    needed = _needed_commits(vault)
    back = []
    for name in sorted(kept_names - live_names):
        commit = name.split(".", 1)[0]
        path = os.path.join(vdir, name)
        if commit in needed:
            os.makedirs(live_dir, exist_ok=True)
            os.link(path, os.path.join(live_dir, name))
            back.append(name)
        else:
            os.unlink(path)  # the runner pruned it: a discard's model is not kept
    models = [n for n in back if n.endswith(".pt2")]
    if models:
        report.restored.append(
            f"autoresearch keeper: {len(models)} saved model(s) under {cfg.state_dir}/artifacts were "
            f"removed, so the keeper linked them back from its journal ({', '.join(m[:7] for m in models)}); "
            f"{allowed_ways(cfg)['runner']}."
        )


# --- a human's hand edit ---


def accept(root=None, *, base=None, cfg=None, ways=None):
    """Journal the live files as they are now (a human fixed a row by hand): the old journals move to
    displaced/, nothing is restored. Run outside Claude Code: inside the sandbox the vault is read-only.
    ways: only the files of these writers (Kept.way, e.g. ("memory",)); None: all."""
    cfg = cfg or load_cfg(root)
    vault = vault_path(str(cfg.root), base)
    os.makedirs(vault, mode=0o700, exist_ok=True)
    _check_root_file(vault, str(cfg.root))
    from . import fsutil

    accepted = []
    with fsutil.lock(os.path.join(vault, LOCK_NAME), VAULT_LOCK_SECONDS):
        for kept in kept_files(cfg, vault):
            if ways is not None and kept.way not in ways:
                continue
            live, why = read_live(kept.live)
            if live is None or why:
                continue
            journal = read_journal(kept.journal)
            data = live if kept.kind == "state" else _complete(live)
            if journal == data:
                continue
            if journal is not None:
                set_aside(vault, kept.journal, os.path.basename(kept.journal))
            os.makedirs(os.path.dirname(kept.journal), mode=0o700, exist_ok=True)
            write_atomic(kept.journal, data)
            accepted.append(kept.label)
        index = os.path.join(vault, INDEX_NAME)
        if os.path.exists(index):
            os.unlink(index)
    return accepted


# --- the hook ---


def post_tool_use_hook(raw, env_root=None):
    """stdin bytes -> stdout text for PostToolUse / PostToolUseFailure. '' when nothing needed saying."""
    if env_root and unchanged(env_root):
        return ""
    import json

    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    root = env_root
    if not root:
        from . import config

        cwd = payload.get("cwd")
        root = str(config.find_root(cwd if isinstance(cwd, str) and os.path.isdir(cwd) else None))
    report = check(root)
    if not report:
        return ""
    event = payload.get("hook_event_name")
    event = event if event in ("PostToolUse", "PostToolUseFailure") else "PostToolUse"
    return json.dumps({"hookSpecificOutput": {"hookEventName": event, "additionalContext": report.text()}})
