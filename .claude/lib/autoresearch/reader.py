"""The reader: one tool call in, its typed effects out (effects.py). It knows commands, not the rules.

    effects = reader.read_call(payload, targets)

Bash and Monitor commands are parsed by the generic shell reader (`shellparse`); then each simple
command's known behaviour becomes effects: `cp a b` writes b, `tail -n 50 run.log` is a bounded read,
`git add -A` stages whatever git would newly stage (git is asked). What cannot be followed (a path built
at run time, an encoded program, text the parser fails on) becomes `Opaque` for each guarded name it
shows. The file tools, Read and Grep are read from their inputs. Stdlib only; nothing is run but git's
read-only queries.
"""

from __future__ import annotations

import os

from . import shellparse
from .effects import (
    APPEND,
    BOUNDED,
    CAN_ANY,
    CAN_READ,
    CAN_WRITE,
    DELETE,
    META,
    REPLACE,
    RUNNER_SCRIPT,
    WHOLE,
    Clean,
    HooksOff,
    Install,
    LongRun,
    Opaque,
    Read,
    SetEnv,
    Stage,
    Train,
    Unignore,
    Write,
    touches,
    under,
)
from .shellparse import is_uint, short_flags

# `re` (~6 ms of start-up, a third of the hook's budget) is imported only where a rare case needs it.

BYTES_PER_LINE = 200  # `tail -c N` on the log is bounded up to tail_lines * this
MAX_PATCH_BYTES = 1024 * 1024
FILE_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
SHELL_TOOLS = ("Bash", "Monitor")
DISABLE_HOOKS = "disableAllHooks"


def read_call(payload, t):
    """The effects of one PreToolUse payload (`t`: effects.Targets). Unknown tools have none."""
    tool = payload.get("tool_name")
    tool_input = payload.get("tool_input")
    if not isinstance(tool, str) or not isinstance(tool_input, dict):
        return []
    reader = _Reader(payload, t)
    if tool in SHELL_TOOLS:
        command = tool_input.get("command")
        if isinstance(command, str) and command.strip():
            reader.text = command
            reader.shell(command)
    elif tool in FILE_TOOLS:
        reader.text = "\n".join(_tool_texts(tool, tool_input, new_only=True))
        reader.file_tool(tool, tool_input)
    elif tool == "Read":
        reader.read_tool(tool_input)
    elif tool == "Grep":
        reader.grep_tool(tool_input)
    return reader.effects


class _Reader:
    """One tool call, read into effects (self.effects)."""

    def __init__(self, payload, t):
        self.t = t
        self.cfg = t.cfg
        self.effects = []
        cwd = payload.get("cwd")
        usable = isinstance(cwd, str) and cwd.startswith("/") and "\x00" not in cwd
        self.cwd = shellparse.normalise(cwd, "/") if usable else self.t.root
        # Why part of the call is unknown, by what that part can do with a file it names:
        self.hidden = []  # anything (a program built at run time): CAN_ANY
        self.hidden_writes = []  # write or delete it (a write target computed at run time): CAN_WRITE
        self.reading = []  # only print it (an argument of a reader, computed at run time): CAN_READ
        self.text = ""  # the command, or the text a file tool writes: does it carry the ledger header?

    def emit(self, effect):
        self.effects.append(effect)

    def whole_log(self, how):
        self.emit(Read(self.t.log, WHOLE, how))

    # -- file tools
    def file_tool(self, name, tool_input):
        key = "notebook_path" if name == "NotebookEdit" else "file_path"
        raw = tool_input.get(key) or tool_input.get("file_path") or tool_input.get("notebook_path")
        texts = _tool_texts(name, tool_input)
        if any(DISABLE_HOOKS in text for text in texts):
            self.emit(HooksOff(f"{name} writes {DISABLE_HOOKS}"))
        if not isinstance(raw, str) or not raw:
            return
        path = shellparse.normalise(raw, self.cwd)
        if path.endswith((".py", ".sh")) or any(path == self.t.abs(f) for f in self.cfg.editable_files):
            new_texts = _tool_texts(name, tool_input, new_only=True)
            self.code_written(new_texts, python=path.endswith(".py"))
            if path.endswith(".sh"):
                self.script_written(new_texts)
        if name == "Edit" or name == "MultiEdit":
            if path == self.t.gitignore and _drops_ignore(tool_input, self.t):
                self.emit(Unignore(self.t.results, f"{name} drops its .gitignore entry"))
        elif name == "Write" and path == self.t.gitignore:
            missing = [u for u in self.t.untracked if os.path.basename(u) not in (texts[0] if texts else "")]
            if missing:
                self.emit(Unignore(missing[0], "Write leaves it out of .gitignore"))
        if name == "Write":
            dep_edit = _dependency_lines(texts[0] if texts else "") != _dependency_lines(_read_text(path))
        else:
            dep_edit = any(_mentions_dependency(text) for text in texts)
        self.write(path, REPLACE, dep_edit=dep_edit, how=name)

    def code_written(self, texts, python=False):
        """Code written now and run later (train.py, a helper script) must not write a protected file."""
        for text in texts:
            names = [p for p in self.t.protected if _may_reveal(text, os.path.basename(p))]
            if names and python:  # train.py's docstring says "prepare.py"; only the code counts
                text = _python_code_only(text)
                names = [p for p in names if _may_reveal(text, os.path.basename(p))]
            if not names or not _writes_files(text, python=python):
                continue
            for p in names:
                if os.path.basename(p) in _join_literals(text):
                    why = "code written now that names it and may write it when run"
                    self.emit(Opaque(p, self.t.rel(p), why, False, CAN_ANY))

    def script_written(self, texts):
        """A shell script written now and run later is read like a command: its writes count now.
        Only the write rules apply; running training or reading the log is judged when it runs."""
        for text in texts:
            script = _Reader({"cwd": self.cwd}, self.t)
            script.shell(text[: shellparse.MAX_SCRIPT_BYTES])
            for e in script.effects:
                if isinstance(e, (Write, Stage, Unignore, Clean)) or (
                    isinstance(e, Opaque)
                    and e.can != CAN_READ
                    and e.target not in (self.t.log, self.t.time_budget_env)
                ):
                    self.emit(e)

    def read_tool(self, tool_input):
        raw = tool_input.get("file_path")
        if not isinstance(raw, str) or not raw:
            return
        path = shellparse.normalise(raw, self.cwd)
        if path != self.t.log:
            return
        limit = _as_int(tool_input.get("limit"))
        if limit is None or limit <= 0 or limit > self.cfg.tail_lines:
            self.whole_log(f"the Read tool needs limit <= {self.cfg.tail_lines} on this file")
        else:
            self.emit(Read(path, BOUNDED, f"Read with limit {limit}"))

    def grep_tool(self, tool_input):
        raw = tool_input.get("path")
        path = shellparse.normalise(raw, self.cwd) if isinstance(raw, str) and raw else self.cwd
        if not under(self.t.log, path):
            return
        glob = tool_input.get("glob")
        if path != self.t.log and isinstance(glob, str) and glob:
            import fnmatch

            base = os.path.basename(self.t.log)
            rel = os.path.relpath(self.t.log, path)
            if not any(fnmatch.fnmatchcase(x, g) for g in shellparse.brace_expand(glob) for x in (base, rel)):
                return
        if tool_input.get("output_mode", "files_with_matches") != "content":
            return
        limit = _as_int(tool_input.get("head_limit"))
        if limit is not None and 0 < limit <= self.cfg.tail_lines:
            return
        for key in ("-A", "-B", "-C", "context"):
            ctx = _as_int(tool_input.get(key))
            if ctx is not None and ctx > self.cfg.tail_lines:
                self.whole_log(f"{key} {ctx} prints too much context")
                return
        pattern = tool_input.get("pattern")
        icase = bool(tool_input.get("-i"))
        if not isinstance(pattern, str) or _matches_everything(pattern, "ere", icase):
            self.whole_log("this Grep pattern matches every line")

    # -- writes, from any route
    def write(self, path, kind, recursive=False, dep_edit=False, source_text="", how=""):
        """A write by any route; kind: REPLACE, APPEND, DELETE or META (mode, owner, mtime, a link)."""
        t = self.t
        seed = kind == REPLACE and path == t.results and _writes_header(self.text) and _holds_no_rows(path)
        self.emit(Write(path, kind, recursive, dep_edit, seed, how))
        if path == t.gitignore and kind != APPEND and source_text:
            names = [os.path.basename(u) for u in t.untracked]
            if any(n in source_text for n in names):
                self.emit(Unignore(t.results, "the command rewrites .gitignore"))

    # -- Bash and Monitor
    def shell(self, command):
        t = self.t
        if DISABLE_HOOKS in command:
            self.emit(HooksOff(f"the command names {DISABLE_HOOKS}"))
        env = {"CLAUDE_PROJECT_DIR": t.root}
        analysis = shellparse.analyse(command, self.cwd, env)
        if analysis.error:
            self.mentions(command, analysis.error, unreadable=True)
        for text in analysis.opaque_texts:
            self.mentions(text, "a case statement or nested text the guard does not follow", unreadable=True)
        opaque = []
        for cmd in analysis.commands:
            self.command(cmd)
            if cmd.opaque:
                opaque.append(cmd.opaque)
        self.used_in_the_same_call(analysis.commands)
        if opaque or self.hidden:
            self.mentions(command, (opaque + self.hidden)[0])
        else:
            if self.hidden_writes:
                self.mentions(command, self.hidden_writes[0], can=CAN_WRITE)
            if self.reading:
                self.mentions(command, self.reading[0], can=CAN_READ)

    def used_in_the_same_call(self, commands):
        """A heredoc written to a file that a command of the same call then names (`cat > p.py <<EOF ... EOF;
        sed -i "/x/r p.py" train.py`, `python3 p.py`) is read as the code it becomes."""
        written = {}
        for cmd in commands:
            if cmd.stdin_text is None:
                continue
            for _fd, op, target in cmd.redirects:
                if op in (">", ">>", ">|") and target is not None and not target.dynamic:
                    written[shellparse.normalise(target.value, cmd.cwd)] = cmd.stdin_text
        for path, text in written.items():
            users = [c for c in commands if c.stdin_text is not text and any(path in a.value for a in c.args)]
            for cmd in users[:1]:
                self.code(text[: shellparse.MAX_SCRIPT_BYTES], cmd, python=path.endswith(".py"))

    def mentions(self, text, why, unreadable=False, can=CAN_ANY, targets=None):
        """Guarded names in text the reader cannot follow become Opaque effects."""
        import fnmatch
        import re

        views = _views(text)
        tokens = re.split(r"[\s'\"()$`;|&<>=]+", text[:20_000])
        globs = {tok for tok in tokens if any(c in tok for c in "*?[")}
        for needle, target, label in self.t.needles():
            if targets is not None and target not in targets:
                continue
            base = needle.rsplit("/", 1)[-1]
            hit = any(needle in view for view in views)
            # `*.log` may name run.log; `~/.cache/x/d?ta/*` names only files in such folders.
            hit = hit or any(
                fnmatch.fnmatchcase(base, g.rsplit("/", 1)[-1]) for g in globs if "." in g.rsplit("/", 1)[-1]
            )
            if hit:
                self.emit(Opaque(target, label, why, unreadable, can))

    def paths(self, arg, cmd, recursive=False, reader=False):
        """Absolute paths an argument may name; records why when it cannot be known."""
        t = self.t
        if arg.found and cmd.find_scope is not None:
            return self.find_candidates(cmd)
        if arg.dynamic:
            (self.reading if reader else self.hidden_writes).append(
                f"{cmd.name} gets a path computed at run time"
            )
            return []
        if arg.pattern is not None:
            pattern = os.path.normpath(os.path.join(cmd.cwd, os.path.expanduser(arg.pattern)))
            out = []
            for target in t.all:
                hit = shellparse.glob_prefix_match(pattern, target)
                if hit is not None:
                    out.append(hit)
            return out
        if arg.value == "":
            return []
        return [shellparse.normalise(arg.value, cmd.cwd)]

    def find_candidates(self, cmd):
        import fnmatch

        roots, names, paths = cmd.find_scope
        roots = [shellparse.normalise(r, cmd.cwd) for r in roots]
        out = []
        dirs = {self.t.state, self.t.memory, *[g for g in self.t.guard if "." not in os.path.basename(g)]}
        for target in self.t.all:
            if not any(under(target, r) or under(r, target) for r in roots):
                continue
            base = os.path.basename(target)
            if names and not any(fnmatch.fnmatchcase(base, n) for n in names):
                if target not in dirs or not _dir_has_match(target, names):
                    continue
            if paths and not any(fnmatch.fnmatchcase(target, "*" + p.lstrip(".")) for p in paths):
                if target not in dirs:
                    continue
            out.append(target)
        return out

    def command(self, cmd):
        t = self.t
        for name in cmd.assigned:
            self.emit(SetEnv(name, "an assignment"))
        for _fd, op, target in cmd.redirects:
            if target is None:
                continue
            if op in (">&", "<&") and (target.value.isdigit() or target.value == "-"):
                continue
            if target.value.startswith("/dev/") and not target.dynamic:
                continue
            if op in ("<", "<&") and target.dynamic and self.limited_read(cmd, stdin=True):
                continue  # `wc -l < "$f"`: a bounded reader, whatever it reads
            for path in self.paths(target, cmd, reader=op in ("<", "<&")):
                if op in ("<", "<&"):
                    if path == t.log and not self.limited_read(cmd, stdin=True):
                        self.whole_log(f"`{cmd.name or '<'}` reads the whole log")
                else:
                    kind = APPEND if op in (">>", "&>>") else REPLACE
                    self.write(path, kind, source_text=cmd.raw, how=f"a `{op}` redirect")
        if not cmd.args:
            return
        name = cmd.name
        if cmd.opaque:
            return
        handler = _HANDLERS.get(name)
        if handler is None and _is_python(name):
            handler = _Reader.python
        if handler is not None:
            handler(self, cmd)
        else:
            self.generic(cmd)
        for wrapper, opts in cmd.wrappers:
            if wrapper == "xargs":  # -a FILE: the arguments come from that file, all of it
                for k, opt in enumerate(opts[:-1]):
                    if opt in ("-a", "--arg-file") and shellparse.normalise(opts[k + 1], cmd.cwd) == t.log:
                        self.whole_log("`xargs -a` feeds the whole log")
            if wrapper in ("uv run", "uvx", "uv tool run") and any(o.startswith("--with") for o in opts):
                self.emit(Install(f"`{wrapper} --with` adding packages"))

    # -- command families
    def files(self, cmd, skip_values=()):
        """Non-option arguments (options listed in skip_values consume the next word)."""
        out = []
        args = cmd.args[1:]
        k = 0
        end = False
        while k < len(args):
            a = args[k]
            v = a.value
            if not end and v == "--":
                end = True
            elif not end and v.startswith("-") and len(v) > 1 and not a.dynamic:
                if v in skip_values and k + 1 < len(args):
                    k += 1
            else:
                out.append(a)
            k += 1
        return out

    def generic(self, cmd):
        """Any other command: naming the log as an argument counts as reading all of it."""
        if cmd.name in _NON_READING:
            return
        reads = False
        for a in cmd.args[1:]:
            if a.dynamic and not a.found:
                if cmd.name in _INTERESTING:
                    self.reading.append(f"{cmd.name} gets an argument computed at run time")
                continue
            if any(p == self.t.log for p in self.paths(a, cmd, reader=True)):
                reads = True
        if cmd.xargs:
            why = f"xargs feeds {cmd.name} arguments at run time"
            (self.reading if cmd.name in _INTERESTING else self.hidden).append(why)
        if reads:
            self.whole_log(f"`{cmd.name}` on the log prints all of it")

    def limited_read(self, cmd, stdin=False):
        name = cmd.name
        if name in _GREPS:
            return self.grep_ok(cmd)
        if name in ("head", "tail"):
            return self.head_tail_ok(cmd) is None
        return name in ("wc", "md5sum", "sha1sum", "sha256sum", "sha512sum", "b2sum", "cksum", "file")

    def grep(self, cmd):
        files = _grep_options(cmd)[1]
        if not files and cmd.name in ("rg", "ag", "ack") and cmd.stdin[0] == "tty":
            files = [shellparse.Arg(".")]  # these search the working directory by default
        if self.grep_ok(cmd):  # a targeted grep of whatever file: a computed name cannot flood
            files = [a for a in files if not a.dynamic]
        hits = [p for a in files for p in self.paths(a, cmd, reader=True) if under(self.t.log, p)]
        if cmd.xargs and not self.grep_ok(cmd):
            self.reading.append("xargs feeds grep file names at run time")
        if hits and not self.grep_ok(cmd):
            self.whole_log("this grep prints (nearly) every line")
        elif hits:
            self.emit(Read(self.t.log, BOUNDED, f"a targeted `{cmd.name}`"))

    def grep_ok(self, cmd):
        patterns, _, flags = _grep_options(cmd)
        if flags.get("quiet"):
            return True
        if flags.get("max") is not None and flags["max"] <= self.cfg.tail_lines:
            return not flags.get("context") or flags["context"] <= self.cfg.tail_lines
        if flags.get("invert") or flags.get("whole_file"):
            return False
        if flags.get("context") is not None and flags["context"] > self.cfg.tail_lines:
            return False
        if not patterns:
            return False
        mode = flags.get("mode", "bre")
        icase = bool(flags.get("icase"))
        for pat in patterns:
            if pat is None:
                continue  # -f FILE: the patterns are unknown; trust it like any targeted grep
            if _matches_everything(pat, mode, icase, whole_line=flags.get("line", False)):
                return False
        return True

    def head_tail(self, cmd):
        files = self.files(
            cmd, skip_values=("-n", "-c", "--lines", "--bytes", "-s", "--sleep-interval", "--pid")
        )
        files = [a for a in files if not _is_count(a.value) or _is_path(a, cmd)]
        if self.head_tail_ok(cmd) is None:  # a few lines of whatever file: a computed name cannot flood
            files = [a for a in files if not a.dynamic]
        reading = [p for a in files for p in self.paths(a, cmd, reader=True) if p == self.t.log]
        if cmd.xargs and self.head_tail_ok(cmd) is not None:
            self.reading.append(f"xargs feeds {cmd.name} file names at run time")
        if not reading:
            return
        problem = self.head_tail_ok(cmd)
        if problem:
            self.whole_log(problem)
        else:
            self.emit(Read(self.t.log, BOUNDED, f"`{cmd.name}` of a few lines"))

    def head_tail_ok(self, cmd):
        """None when the head/tail call prints at most tail_lines lines, else what is wrong."""
        limit = self.cfg.tail_lines
        args = [a.value for a in cmd.args[1:]]
        k = 0
        while k < len(args):
            v = args[k]
            value = None
            if v == "--":
                break
            if v.startswith("--"):
                key, eq, val = v.partition("=")
                if key.startswith("--follow") or key == "--retry":
                    return "following the log streams all of it"
                if key in ("--lines", "--bytes"):
                    if not eq and k + 1 < len(args):
                        k += 1
                        val = args[k]
                    value = (key[2], val)
            elif v.startswith("-") and len(v) > 1:
                if is_uint(v[1:]):
                    value = ("l", v[1:])
                else:
                    body = v[1:]
                    for j, ch in enumerate(body):
                        if ch in "fF":
                            return "following the log streams all of it"
                        if ch in "nc":
                            rest = body[j + 1 :]
                            if not rest and k + 1 < len(args):
                                k += 1
                                rest = args[k]
                            value = ("l" if ch == "n" else "b", rest)
                            break
            if value is not None:
                kind, text = value
                kind = "l" if kind in ("l", "n") else "b"
                if not is_uint(text):
                    return f"`{cmd.name}` with {text or 'no count'} is not a small fixed count"
                count = int(text)
                if kind == "l" and count > limit:
                    return f"`{cmd.name}` of {count} lines is more than {limit}"
                if kind == "b" and count > limit * BYTES_PER_LINE:
                    return f"`{cmd.name}` of {count} bytes is more than {limit * BYTES_PER_LINE}"
            k += 1
        return None

    def reader_scripts(self, cmd, code_texts, file_args, in_place=False):
        """Interpreters and editors: inline code that names guarded files, in-place edits, log reads."""
        for code in code_texts:
            self.code(code, cmd)
        for a in file_args:
            for p in self.paths(a, cmd, reader=not in_place):
                if in_place:
                    self.write(p, REPLACE, source_text=cmd.raw, how=f"`{cmd.name}` in place")
                elif p == self.t.log:
                    self.whole_log(f"`{cmd.name}` on the log prints all of it")

    def code(self, code, cmd, depth=0, python=False):
        """Inline program text. Naming the log with a call that can read a file counts as reading all of
        it. Naming another guarded file with any call that can write is a guess, not a reading, so it is
        Opaque: the rules leave it to the sandbox and the keeper where they cover the file. Python code is
        read without its comments and docstrings, and the local files it loads are read too."""
        if not code:
            return
        if python:
            code = _python_code_only(code)
        if python and depth < MAX_CODE_DEPTH:
            for path in _loaded_code_files(code, cmd.cwd):
                if path not in self.t.protected and path != self.t.log:
                    self.code(_read_text(path)[: shellparse.MAX_SCRIPT_BYTES], cmd, depth + 1, python=True)
        code = "\n".join(_views(code)[:2] + [_join_literals(code)])
        t = self.t
        writes = _writes_files(code, python=python)
        why = f"`{cmd.name}` code that names it and may write"
        # Code that can run other programs can do anything (stage, install); other code can only write.
        can = CAN_ANY if any(word in code for word in _RUNS_WORDS) else CAN_WRITE

        def guess(target, needle):  # open('prepare.py', 'w') is plain enough to explain; the rest is a guess
            if _opens_for_writing(code, needle):
                self.emit(Write(target, REPLACE, how=f"`{cmd.name}` code that opens it for writing"))
            else:
                self.emit(Opaque(target, t.rel(target), why, False, can))

        if os.path.basename(t.log) in code and any(word in code for word in _READ_WORDS):
            self.whole_log(f"`{cmd.name}` code that opens the log")
        if t.time_budget_env in code and _sets_env(code, t.time_budget_env):
            self.emit(SetEnv(t.time_budget_env, f"`{cmd.name}` code"))
        for p in t.protected:
            base = os.path.basename(p)
            stem = os.path.splitext(base)[0]
            if base in code and (writes or cmd.name in ("sed", "awk", "gawk", "mawk", "nawk")):
                guess(p, base)
            elif stem != base and writes and _names_own_file(stem, code):
                guess(p, base)
        if not writes:
            return
        for g in t.guard:
            needle = os.path.basename(g) if "." in os.path.basename(g) else t.rel(g)
            if needle in code:
                guess(g, needle)
        for d in (t.results, t.state, t.memory):
            needle = os.path.basename(d) if d == t.results else t.rel(d)
            if needle in code:
                guess(d, needle)

    def python(self, cmd):
        args = cmd.args[1:]
        k = 0
        code = None
        module = None
        script = None
        while k < len(args):
            v = args[k].value
            if v == "-c" and k + 1 < len(args):
                code = args[k + 1].value
                if args[k + 1].dynamic:
                    self.hidden.append("python -c runs code built at run time")
                break
            if v.startswith("-c") and len(v) > 2:
                code = v[2:]
                break
            if v == "-m" and k + 1 < len(args):
                module = args[k + 1].value
                rest = args[k + 2 :]
                break
            if v in ("-W", "-X", "--check-hash-based-pycs") and k + 1 < len(args):
                k += 2
                continue
            if v == "-":
                code = self.stdin_program(cmd)
                break
            if v.startswith("-") and len(v) > 1:
                k += 1
                continue
            script = args[k]
            rest = args[k + 1 :]
            break
        else:
            code = self.stdin_program(cmd)
        if code is not None:
            self.code(code, cmd, python=True)
            return
        if module is not None:
            if module in ("pip", "ensurepip", "pip3") and any(a.value in _PIP_INSTALLS for a in rest):
                self.emit(Install(f"`python -m {module} install`"))
            if module == os.path.splitext(os.path.basename(self.t.train))[0]:
                self.train_run(cmd)
            return
        if script is None:
            return
        if script.dynamic:
            self.hidden.append("python runs a script named at run time")
            return
        path = shellparse.normalise(script.value, cmd.cwd)
        if path == self.t.train:
            self.train_run(cmd)
            return
        if path == self.t.runner:
            sub = next((a.value for a in rest if not a.value.startswith("-")), "")
            if sub in ("run", "setup"):
                self.emit(LongRun(f"`{RUNNER_SCRIPT} {sub}`"))
            return
        trusted = path == self.t.memory_cli or any(under(path, g) for g in self.t.guard)
        if trusted or path in self.t.protected:
            return
        for a in rest:
            if not a.dynamic and shellparse.normalise(a.value, cmd.cwd) == self.t.log:
                self.whole_log(f"`{script.value}` reads the whole log")
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                self.code(fh.read(shellparse.MAX_SCRIPT_BYTES), cmd, python=True)
        except (OSError, ValueError):
            pass

    def stdin_program(self, cmd):
        """The program an interpreter reads on stdin: a heredoc, a file, or unknown (a pipe)."""
        if cmd.stdin_text is not None:
            return cmd.stdin_text
        if cmd.stdin[0] == "file" and cmd.stdin[1] is not None and not cmd.stdin[1].dynamic:
            return _read_text(shellparse.normalise(cmd.stdin[1].value, cmd.cwd))
        if cmd.stdin[0] in ("pipe", "file"):
            self.hidden.append(f"{cmd.name} reads its program from a pipe")
        return None

    def train_run(self, cmd):
        self.emit(Train(cmd.stdout[0], cmd.stderr[0]))

    def interpreter(self, cmd):
        """perl/ruby/node/php/awk: -e code or the program text, -i in place, file arguments."""
        name = cmd.name
        args = cmd.args[1:]
        codes, files, in_place = [], [], False
        k = 0
        has_program = False
        while k < len(args):
            v = args[k].value
            if v in ("-e", "-E", "--eval", "-p", "--print", "-r") and name not in (
                "awk",
                "gawk",
                "mawk",
                "nawk",
            ):
                if k + 1 < len(args) and (v not in ("-p",) or name == "node"):
                    codes.append(args[k + 1].value)
                    if args[k + 1].dynamic:
                        self.hidden.append(f"{name} runs code built at run time")
                    has_program = True
                    k += 2
                    continue
            if name in ("awk", "gawk", "mawk", "nawk"):
                if v in ("-i", "--include") and k + 1 < len(args) and args[k + 1].value == "inplace":
                    in_place = True
                    k += 2
                    continue
                if v in ("-f", "-v", "-F", "--file", "--assign", "--field-separator") and k + 1 < len(args):
                    has_program = has_program or v in ("-f", "--file")
                    k += 2
                    continue
            elif v.startswith("-") and len(v) > 1 and not v.startswith("--"):
                body = v[1:]
                if "i" in body and name in ("perl", "ruby"):
                    in_place = True
                for j, ch in enumerate(body):
                    if ch in "eE" and name in ("perl", "ruby"):
                        code = body[j + 1 :] or (args[k + 1].value if k + 1 < len(args) else "")
                        codes.append(code)
                        has_program = True
                        if not body[j + 1 :]:
                            k += 1
                        break
                k += 1
                continue
            if v.startswith("-") and len(v) > 1:
                k += 1
                continue
            if not has_program:
                has_program = True
                if name in ("awk", "gawk", "mawk", "nawk"):
                    codes.append(v)  # the program text
                else:
                    files.append(args[k])  # the script file itself
                k += 1
                continue
            files.append(args[k])
            k += 1
        if not has_program and cmd.stdin_text is not None:
            codes.append(cmd.stdin_text)
        self.reader_scripts(cmd, codes, files, in_place)

    def sed(self, cmd):
        args = cmd.args[1:]
        scripts, files, in_place = [], [], False
        k = 0
        explicit = False
        while k < len(args):
            v = args[k].value
            if v == "--in-place" or v.startswith("--in-place="):
                in_place = True
            elif v in ("-e", "--expression", "-f", "--file") and k + 1 < len(args):
                scripts.append(args[k + 1].value)
                explicit = True
                k += 1
            elif v.startswith("--expression="):
                scripts.append(v.partition("=")[2])
                explicit = True
            elif v.startswith("-") and len(v) > 1 and not v.startswith("--"):
                body = v[1:]
                for j, ch in enumerate(body):
                    if ch == "i":
                        in_place = True
                        break
                    if ch in "ef":
                        rest = body[j + 1 :]
                        if rest:
                            scripts.append(rest)
                        elif k + 1 < len(args):
                            scripts.append(args[k + 1].value)
                            k += 1
                        explicit = True
                        break
            elif v.startswith("-") and len(v) > 1:
                pass
            elif not explicit and not scripts:
                scripts.append(v)
            else:
                files.append(args[k])
            k += 1
        if cmd.xargs:
            self.hidden.append("xargs feeds sed file names at run time")
        self.reader_scripts(cmd, scripts, files, in_place)

    def copy_like(self, cmd):
        """cp, mv, install, rsync, ln: the destination is written; mv also removes the source."""
        name = cmd.name
        skip = (
            "-t",
            "--target-directory",
            "-S",
            "--suffix",
            "-m",
            "--mode",
            "-o",
            "-g",
            "--owner",
            "--group",
        )
        files = self.files(cmd, skip_values=skip)
        target_dir = None
        args = [a.value for a in cmd.args[1:]]
        for k, v in enumerate(args):
            if v in ("-t", "--target-directory") and k + 1 < len(args):
                target_dir = cmd.args[k + 2]
            elif v.startswith("--target-directory="):
                target_dir = shellparse.Arg(v.partition("=")[2])
        recursive = name in ("mv", "rsync") or any(
            v in ("--recursive", "--archive") or any(c in short_flags(v) for c in "rRa") for v in args
        )
        as_file = any(v == "--no-target-directory" or "T" in short_flags(v) for v in args)
        if target_dir is None and len(files) < 2:
            if name == "ln" and files:
                sources, dest = files, None
            else:
                if cmd.xargs:
                    self.generic(cmd)
                return
        else:
            sources, dest = (files, target_dir) if target_dir is not None else (files[:-1], files[-1])
        if cmd.xargs:
            self.hidden_writes.append(f"xargs feeds {name} file names at run time")
        dest_paths = self.paths(dest, cmd) if dest is not None else []
        for src in sources:
            src_paths = self.paths(src, cmd, recursive=True, reader=name not in ("mv", "ln"))
            for sp in src_paths:
                if name == "mv":
                    self.write(sp, DELETE, recursive=True, how="`mv` of the source")
                if name == "ln":
                    self.write(sp, META, how="a link to it")  # a link to a guarded file is a way to write it
                if under(self.t.log, sp):
                    self.whole_log(f"`{name}` copies the log to read it elsewhere")
            for dp in dest_paths:
                into = dp
                contents = src.value.endswith(("/", "/.")) and name == "rsync"
                if as_file or contents:
                    pass  # the source's contents land in dp itself
                elif (
                    os.path.isdir(dp)
                    or target_dir is not None
                    or len(sources) > 1
                    or dest.value.endswith("/")
                ):
                    into = os.path.join(dp, os.path.basename(src.value.rstrip("/")) or ".")
                    into = os.path.normpath(into)
                self.write(into, REPLACE, recursive=recursive, how=f"`{name}` destination")

    def remove(self, cmd):
        args = [a.value for a in cmd.args[1:]]
        recursive = cmd.name in ("rmdir",) or any(
            v == "--recursive" or any(c in short_flags(v) for c in "rR") for v in args
        )
        if cmd.xargs:
            self.hidden_writes.append(f"xargs feeds {cmd.name} file names at run time")
        for a in self.files(cmd):
            for p in self.paths(a, cmd, recursive=True):
                self.write(p, DELETE, recursive=recursive or a.found, how=f"`{cmd.name}`")

    def plain_writer(self, cmd, skip_values=()):
        """tee, truncate, touch, mkdir, chmod...: every file argument is written."""
        files = self.files(cmd, skip_values=skip_values)
        if cmd.name in ("chmod", "chown", "chgrp", "chattr", "setfacl") and len(files) > 1:
            files = files[1:]  # the mode / owner (`chmod -x f` has it among the options)
        kind = (
            APPEND if cmd.name == "tee" and any(a.value in ("-a", "--append") for a in cmd.args) else REPLACE
        )
        if cmd.name in ("chmod", "chown", "chgrp", "chattr", "setfacl", "touch"):
            kind = META
        if cmd.xargs:
            self.hidden_writes.append(f"xargs feeds {cmd.name} file names at run time")
        recursive = any(a.value == "--recursive" or "R" in short_flags(a.value) for a in cmd.args)
        for a in files:
            for p in self.paths(a, cmd, recursive=recursive):
                self.write(p, kind, recursive=recursive, source_text=cmd.raw, how=f"`{cmd.name}`")

    def tee(self, cmd):
        self.plain_writer(cmd)

    def query_cli(self, cmd):
        """sqlite3/duckdb: file names live inside SQL and dot-commands (.import run.log t, .output x),
        which the guard does not parse: naming the log or a protected or guard file counts. Reading
        results.tsv for analysis stays allowed."""
        text = " ".join(a.value for a in cmd.args[1:])
        why = f"`{cmd.name}` reads and writes files named in SQL"
        self.mentions(text, why, targets=(self.t.log, *self.t.protected, *self.t.guard))

    def extract(self, cmd):
        """tar -x / unzip: members named on the command line are written (into -C / -d DIR)."""
        argv = [a.value for a in cmd.args[1:]]
        if cmd.name == "tar":
            keys = argv[0].lstrip("-") if argv and not argv[0].startswith("--") else ""
            extracting = (keys.isalpha() and "x" in keys) or any(
                v in ("--extract", "--get") or "x" in short_flags(v) for v in argv
            )
            if not extracting:
                self.generic(cmd)
                return
            skip = ("-f", "--file", "-C", "--directory", "-T", "--files-from", "-X", "--exclude-from")
        else:
            if any(c in short_flags(v) for v in argv for c in "lvtzpZ"):
                return  # list, test, comment, or extract to stdout: writes no file
            skip = ("-d", "-x", "-P")
        where = cmd.cwd
        for k, v in enumerate(argv[:-1]):
            if v in ("-C", "--directory", "-d"):
                where = shellparse.normalise(argv[k + 1], cmd.cwd)
        members = self.files(cmd, skip_values=skip)
        archive = None
        if cmd.name == "tar" and members and not argv[0].startswith("-") and "f" in argv[0]:
            archive, members = members[1], members[2:]  # old-style `tar xf ARCHIVE member...`
        elif cmd.name == "unzip":
            archive, members = (members[0] if members else None), members[1:]
        else:
            for k, v in enumerate(argv):
                if v in ("-f", "--file") and k + 1 < len(argv):
                    archive = cmd.args[k + 2]
                elif v.startswith("--file="):
                    archive = shellparse.Arg(v.partition("=")[2])
                elif short_flags(v).endswith("f") and k + 1 < len(argv):
                    archive = cmd.args[k + 2]  # -xzf ARCHIVE
            if archive is not None:  # a bundled -f's value is not a member
                members = [m for m in members if m.value != archive.value]
        for a in members:
            for p in self.paths(a, shellparse.Cmd([a], where)):
                self.write(p, REPLACE)
        if not members and archive is not None:
            self.archive_members(cmd, archive, where)

    def archive_members(self, cmd, archive, where):
        """Extracting a whole archive writes every member: list it (zip directory, tar headers)."""
        if archive.dynamic:
            self.hidden_writes.append(f"{cmd.name} extracts an archive named at run time")
            return
        path = shellparse.normalise(archive.value, cmd.cwd)
        names = _archive_names(path, cmd.name)
        if names is None:
            self.hidden_writes.append(f"{cmd.name} extracts an archive the guard cannot list")
            return
        for name in names:
            if not name.endswith("/"):  # a directory entry only creates the directory
                self.write(
                    os.path.normpath(os.path.join(where, name.lstrip("/"))),
                    REPLACE,
                    how="a member of the archive",
                )

    def truncate(self, cmd):
        self.plain_writer(cmd, skip_values=("-s", "--size", "-r", "--reference"))

    def dd(self, cmd):
        for a in cmd.args[1:]:
            key, eq, val = a.value.partition("=")
            if not eq:
                continue
            sub = shellparse.Arg(val, a.dynamic, None, hidden=a.hidden)
            for p in self.paths(sub, cmd, reader=key == "if"):
                if key == "of":
                    self.write(p, REPLACE)
                elif key == "if" and p == self.t.log:
                    self.whole_log("`dd` copies the whole log")

    def editor(self, cmd):
        for a in self.files(cmd):
            for p in self.paths(a, cmd):
                self.write(p, REPLACE)
                if p == self.t.log:
                    self.whole_log(f"`{cmd.name}` loads the whole log")

    def downloader(self, cmd):
        args = cmd.args[1:]
        for k, a in enumerate(args):
            if a.value in ("-o", "--output", "-O", "--output-document") and k + 1 < len(args):
                if cmd.name == "curl" and a.value == "-O":
                    continue
                for p in self.paths(args[k + 1], cmd):
                    self.write(p, REPLACE)

    def sort(self, cmd):
        args = cmd.args[1:]
        for k, a in enumerate(args):
            if a.value in ("-o", "--output") and k + 1 < len(args):
                for p in self.paths(args[k + 1], cmd):
                    self.write(p, REPLACE)
        self.generic(cmd)

    def patch(self, cmd):
        args = cmd.args[1:]
        text = None
        files = []
        k = 0
        while k < len(args):
            v = args[k].value
            if v in ("-i", "--input") and k + 1 < len(args):
                text = self.read_patch(args[k + 1], cmd)
                k += 2
                continue
            if v.startswith("--input="):
                text = self.read_patch(shellparse.Arg(v.partition("=")[2]), cmd)
            elif v in ("-o", "--output", "-d", "--directory", "-p", "-B", "-r", "-z", "-D"):
                k += 2
                continue
            elif not v.startswith("-"):
                files.append(args[k])
            k += 1
        if files:
            for p in self.paths(files[0], cmd):
                self.write(p, REPLACE)
            if len(files) > 1 and text is None:
                text = self.read_patch(files[1], cmd)
        if text is None:
            text = self.stdin_patch(cmd)
        self.patched(text, cmd, strip_default=0)

    def stdin_patch(self, cmd):
        if cmd.stdin_text is not None:
            return cmd.stdin_text
        if cmd.stdin[0] == "file" and cmd.stdin[1] is not None:
            return self.read_patch(cmd.stdin[1], cmd)
        return None

    def read_patch(self, arg, cmd):
        if arg.dynamic:
            return None
        try:
            with open(shellparse.normalise(arg.value, cmd.cwd), encoding="utf-8", errors="replace") as fh:
                return fh.read(MAX_PATCH_BYTES)
        except (OSError, ValueError):
            return None

    def patched(self, text, cmd, strip_default=1):
        if text is None:
            self.hidden_writes.append(f"{cmd.name} applies a patch the guard cannot read")
            return
        import re

        for line in text.splitlines():
            m = re.match(r"(?:\+\+\+|---|\*\*\*|diff --git|rename (?:from|to)|copy (?:from|to))\s+(.*)", line)
            if not m:
                continue
            for name in m.group(1).split():
                name = name.split("\t")[0].strip('"')
                if name in ("/dev/null", "a", "b") or not name:
                    continue
                for cand in {name, name[2:] if name[:2] in ("a/", "b/") else name}:
                    p = shellparse.normalise(cand, self.t.root if cmd.name == "git" else cmd.cwd)
                    self.write(p, REPLACE)

    def installer(self, cmd):
        name = cmd.name
        argv = [a.value for a in cmd.args[1:]]
        words = [v for v in argv if not v.startswith("-")]
        sub = words[0] if words else ""
        what = None
        if name in ("pip", "pip3", "pipx", "easy_install") or _is_versioned_pip(name):
            if (
                name == "easy_install"
                or sub in _PIP_INSTALLS
                or name == "pipx"
                and sub in ("install", "inject", "upgrade", "runpip")
            ):
                what = f"`{name} {sub}`" if sub else f"`{name}`"
        elif name == "uv":
            if sub in ("add", "remove"):
                what = f"`uv {sub}`"
            elif sub == "pip" and len(words) > 1 and words[1] in ("install", "uninstall", "sync", "compile"):
                what = f"`uv pip {words[1]}`"
            elif sub == "tool" and len(words) > 1 and words[1] in ("install", "upgrade"):
                what = f"`uv tool {words[1]}`"
            elif sub == "lock":
                what = "`uv lock`, which rewrites uv.lock,"
            elif sub == "sync" and any(v.startswith(("--upgrade", "-U", "-P", "--with")) for v in argv):
                what = "`uv sync --upgrade`"
            elif sub == "venv":
                what = "`uv venv`"
        elif name in ("conda", "mamba", "micromamba"):
            if sub in ("install", "create", "update", "upgrade", "remove", "uninstall", "env"):
                what = f"`{name} {sub}`"
        elif name in ("poetry", "pdm", "hatch", "pipenv"):
            if sub in ("add", "install", "update", "remove", "lock", "sync"):
                what = f"`{name} {sub}`"
        elif name in ("npm", "pnpm", "yarn", "bun"):
            if sub in ("install", "i", "add", "ci", "update", "upgrade") or (name == "yarn" and not words):
                what = f"`{name} {sub or 'install'}`"
        elif name in ("apt", "apt-get", "aptitude", "dnf", "yum", "apk", "brew", "port", "zypper", "pacman"):
            if sub in ("install", "add", "upgrade", "reinstall") or "-S" in argv:
                what = f"`{name} {sub}`"
        elif name in ("gem", "cargo", "go"):
            if sub in ("install", "get"):
                what = f"`{name} {sub}`"
        if what:
            self.emit(Install(what))
        self.generic(cmd)

    # -- git
    def git(self, cmd):
        args = cmd.args[1:]
        cwd = cmd.cwd
        k = 0
        while k < len(args):
            v = args[k].value
            if v == "-C" and k + 1 < len(args):
                cwd = shellparse.normalise(args[k + 1].value, cwd)
                k += 2
                continue
            if v in ("-c", "--git-dir", "--work-tree", "--namespace") and k + 1 < len(args):
                k += 2
                continue
            if v.startswith("-"):
                k += 1
                continue
            break
        if k >= len(args):
            return
        sub = args[k].value
        rest = args[k + 1 :]
        view = _GitView(self, cmd, cwd, rest, sub)
        handler = getattr(view, "do_" + sub.replace("-", "_"), None)
        if handler is not None:
            handler()


class _GitView:
    """One git subcommand: its options, its pathspecs, and the checks on them."""

    def __init__(self, reader, cmd, cwd, rest, sub=""):
        self.j = reader
        self.t = reader.t
        self.cmd = cmd
        self.cwd = cwd
        self.sub = sub
        self.rest = rest
        self.opts = []
        self.paths = []
        self.dashdash = False
        self.before = []  # words before `--`
        takes = _GIT_VALUE_OPTS.get(sub, set())
        end = False
        skip = False
        for a in rest:
            v = a.value
            if skip:
                skip = False
                continue
            if not end and v == "--":
                end = True
                self.dashdash = True
                continue
            if not end and v.startswith("-") and len(v) > 1:
                self.opts.append(v)
                if v in takes or (
                    not v.startswith("--") and "-" + v[-1] in takes and len(v) > 2 and v[1:].isalpha()
                ):
                    skip = True  # the option's value (a message, a branch name...), not a path
                continue
            (self.paths if end else self.before).append(a)

    def has(self, *flags, letters=""):
        for o in self.opts:
            if o in flags or o.split("=")[0] in flags:
                return True
            if letters and any(ch in short_flags(o) for ch in letters):
                return True
        return False

    def resolve(self, args, recursive=True):
        out = []
        for a in args:
            if a.dynamic:
                self.j.hidden.append("git gets a path computed at run time")
                continue
            value = a.value
            if value.startswith(":/"):
                value = os.path.join(self.t.root, value[2:] or ".")
            elif value.startswith(":(") or value.startswith(":!") or value.startswith(":^"):
                continue
            arg = shellparse.Arg(value, False, value if any(c in value for c in "*?[") else None)
            sub = shellparse.Cmd([arg], self.cwd)
            out.extend(self.j.paths(arg, sub, recursive=recursive))
        return out

    def untracked_items(self):
        t = self.t
        items = [t.results, t.log, t.state]
        try:
            items += [os.path.join(t.memory, f) for f in os.listdir(t.memory)]
        except (OSError, ValueError):
            items.append(t.memory)
        return items

    def git_lines(self, *argv):
        import subprocess

        try:
            proc = subprocess.run(
                ["git", "-C", self.t.root, *argv], capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        return [line for line in proc.stdout.splitlines() if line]

    def would_stage(self, spec_paths, force):
        """Untracked-data files that `git add` of these paths would newly stage."""
        t = self.t
        named, covered = [], []
        for p in spec_paths:
            for item in (t.results, t.log, t.state, t.memory):
                if under(p, item):
                    named.append(p)
                elif under(item, p):
                    covered.append(item)
        if named:
            return named
        if not covered:
            return []
        rels = [t.rel(c) for c in covered]
        flags = ["--others"] if force else ["--others", "--exclude-standard"]
        lines = self.git_lines("ls-files", *flags, "--", *rels)
        if lines is None:
            return []
        return [os.path.join(t.root, line) for line in lines]

    def do_add(self):
        if self.has("-u", "--update", "-n", "--dry-run", letters="un"):
            return
        specs = self.before + self.paths
        force = self.has("-f", "--force", letters="f")
        if not specs and self.has("-A", "--all", letters="A"):
            spec_paths = [self.t.root]
        else:
            spec_paths = self.resolve(specs)
        hits = self.would_stage(spec_paths, force)
        if hits:
            self.j.emit(Stage(hits[0], "git add"))
        self.j.hidden.extend([] if not self.cmd.xargs else ["xargs feeds git add paths at run time"])

    def do_commit(self):
        specs = self.before + self.paths
        spec_paths = self.resolve(specs)
        hits = self.would_stage(spec_paths, force=False) if spec_paths else []
        if self.has("-a", "--all", letters="a"):
            items = [self.t.rel(i) for i in self.untracked_items()]
            tracked = self.git_lines("ls-files", "-m", "--", *items) or []
            hits += [os.path.join(self.t.root, x) for x in tracked]
        if hits:
            self.j.emit(Stage(hits[0], "git commit"))

    def do_rm(self):
        cached = self.has("--cached")
        for p in self.resolve(self.before + self.paths):
            if cached:
                for item in (self.t.results, self.t.log, self.t.state, self.t.memory):
                    if touches(p, item, True):
                        self.j.emit(Stage(item, "git rm --cached"))
                for target in (*self.t.protected, *self.t.guard):
                    if touches(p, target, True):
                        self.j.write(target, META, how="git rm --cached")  # deleted by the next commit
            else:
                self.j.write(p, DELETE, recursive=True, how="git rm")

    def do_mv(self):
        items = self.resolve(self.before + self.paths)
        for p in items[:-1]:
            self.j.write(p, DELETE, recursive=True, how="git mv")
        if items:
            self.j.write(items[-1], REPLACE, recursive=True, how="git mv")

    def do_checkout(self):
        if self.has("-b", "-B", "--orphan") or (
            self.before
            and not self.paths
            and not self.dashdash
            and len(self.before) == 1
            and not self._existing(self.before[0])
        ):
            self.do_switch()  # creating or switching a branch: fine unless it swaps a guarded file
            return
        if self.dashdash:
            rev = bool(self.before)
            specs = self.paths
        else:
            if self.before and self._existing(self.before[0]):
                rev, specs = False, self.before
            else:
                rev, specs = bool(self.before), self.before[1:]
        self._restore(self.resolve(specs), rev)

    def _existing(self, arg):
        if arg.dynamic:
            return False
        if any(c in arg.value for c in "*?["):
            return True
        return os.path.exists(shellparse.normalise(arg.value, self.cwd))

    def do_restore(self):
        if self.has("--staged", "-S") and not self.has("--worktree", "-W"):
            return
        rev = self.has("--source", "-s")
        self._restore(self.resolve(self.before + self.paths), rev)

    def _restore(self, paths, rev):
        for p in paths:
            exact = [x for x in (*self.t.protected, *self.t.guard) if under(p, x)]
            if exact or rev:
                self.j.write(p, REPLACE, recursive=bool(rev), how=f"git {self.sub}")

    def do_apply(self):
        if self.has("--check", "--stat", "--numstat", "--summary") and not self.has("--apply"):
            return
        files = self.before + self.paths
        if not files or any(a.value == "-" for a in files):
            text = self.j.stdin_patch(self.cmd)
        else:
            texts = [self.j.read_patch(a, self.cmd) for a in files]
            text = None if any(x is None for x in texts) else "\n".join(texts)
        self.j.patched(text, self.cmd)

    do_am = do_apply

    def do_diff(self):
        if not self.has("--no-index"):
            return
        for p in self.resolve(self.before + self.paths, recursive=False):
            if p == self.t.log and not self.has("--stat", "--quiet", "--numstat", "--shortstat"):
                self.j.whole_log("`git diff --no-index` prints the whole log")

    # -- commands that move the work tree to another commit's content. Each asks git which guarded files
    # (protected and guard paths) the move would change; a rev git cannot resolve is git's own error.

    def _moves(self, *diff_args):
        t = self.t
        specs = [t.rel(p) for p in (*t.protected, *t.guard)]
        lines = self.git_lines("diff", "--name-only", "--no-renames", *diff_args, "--", *specs)
        for rel in lines or []:
            self.j.write(os.path.join(t.root, rel), REPLACE, how=f"git {self.sub}")

    def _revs(self):
        return [a.value for a in self.before if not a.dynamic]

    def _in_progress(self):
        return self.has("--abort", "--continue", "--skip", "--quit", "--edit-todo")

    def do_switch(self):
        revs = self._revs()
        if revs and not self.has("--orphan"):
            self._moves("HEAD", revs[-1])  # the branch, or the start point of -c/-b

    def do_reset(self):
        revs = self._revs()
        if not revs or not self.has("--hard", "--merge", "--keep") or self.paths:
            return
        if revs[0].startswith(("HEAD~", "HEAD^", "@~", "@^")):
            return  # the protocol's discard steps back over the loop's own commits: no git call on that path
        self._moves("HEAD", revs[0])

    def do_merge(self):
        if self._in_progress():
            return
        for rev in self._revs() or ["@{upstream}"]:
            self._moves(f"HEAD...{rev}")  # what the other side changed since the merge base

    def do_pull(self):
        revs = self._revs()
        target = f"{revs[0]}/{revs[1]}" if len(revs) >= 2 else "@{upstream}"
        self._moves(f"HEAD...{target}")  # as of the last fetch: the best the guard can know offline

    def do_rebase(self):
        if self._in_progress():
            return
        onto = None
        for i, a in enumerate(self.rest):
            if a.value == "--onto" and i + 1 < len(self.rest):
                onto = self.rest[i + 1].value
            elif a.value.startswith("--onto="):
                onto = a.value.partition("=")[2]
        revs = self._revs()
        self._moves(f"HEAD...{onto or (revs[0] if revs else '@{upstream}')}")

    def do_cherry_pick(self):
        if self._in_progress():
            return
        for rev in self._revs():
            if ".." in rev:
                self._moves(*rev.split("..", 1))  # A..B: everything B adds over A
            else:
                self._moves(f"{rev}^", rev)

    do_revert = do_cherry_pick

    def do_stash(self):
        if self.has("-u", "--include-untracked", "-a", "--all", letters="ua"):
            self.j.emit(Clean("the untracked results, state and memory files", "git stash"))

    def do_clean(self):
        if self.has("-n", "--dry-run", letters="n"):
            return
        if self.has("-x", "-X", letters="xX"):
            self.j.emit(Clean("ignored files such as the results, state and memory", "git clean"))
            return
        specs = self.before + self.paths
        spec_paths = self.resolve(specs) if specs else [self.cwd]
        covered = [i for i in self.untracked_items() if any(under(i, p) for p in spec_paths)]
        if not covered:
            return
        lines = self.git_lines(
            "ls-files", "--others", "--exclude-standard", "--", *[self.t.rel(c) for c in covered]
        )
        if lines:
            self.j.emit(Clean(lines[0], "git clean"))

    def do_update_index(self):
        for p in self.resolve(self.before + self.paths):
            for item in (self.t.results, self.t.log, self.t.state, self.t.memory):
                if touches(p, item, True):
                    self.j.emit(Stage(item, "git update-index"))


_GIT_VALUE_OPTS = {
    "commit": {
        "-m", "--message", "-F", "--file", "-C", "-c", "--author", "--date", "--fixup", "--squash", "-t",
        "--template", "--cleanup", "--trailer", "--reuse-message", "--reedit-message",
    },
    "checkout": {"-b", "-B", "--orphan", "--conflict"},
    "switch": {"-c", "-C", "--orphan"},
    "merge": {"-m", "-F", "--file", "-s", "--strategy", "-X", "--strategy-option", "--into-name"},
    "pull": {"-s", "--strategy", "-X", "--strategy-option", "--depth", "--upload-pack"},
    "rebase": {"--onto", "-s", "--strategy", "-X", "--strategy-option", "-x", "--exec"},
    "cherry-pick": {"-m", "--mainline", "-s", "--strategy", "-X", "--strategy-option"},
    "revert": {"-m", "--mainline", "-s", "--strategy", "-X", "--strategy-option"},
    "restore": {"-s", "--source"},
    "add": {"--chmod", "--pathspec-from-file"},
    "rm": {"--pathspec-from-file"},
    "stash": {"-m", "--message"},
    "clean": {"-e", "--exclude"},
    "apply": {"-p", "-C", "--directory", "--exclude", "--include", "--whitespace"},
}  # fmt: skip
_GREPS = {"grep", "egrep", "fgrep", "rg", "zgrep", "ag", "ack", "git-grep"}
_NON_READING = {
    "ls", "stat", "wc", "du", "file", "test", "[", "[[", "md5sum", "sha1sum", "sha256sum", "sha512sum",
    "b2sum", "cksum", "realpath", "readlink", "basename", "dirname", "echo", "printf", "true", "false",
    ":", "exit", "cd", "pushd", "popd", "export", "unset", "set", "declare", "typeset", "local",
    "readonly", "type", "which", "command", "hash", "sleep", "date", "lsof", "fuser", "pgrep", "ps",
    "kill", "pkill", "jobs", "wait", "mkdir", "find", "for", "select", "then", "else", "do",
}  # fmt: skip
_INTERESTING = {
    "cat", "tac", "less", "more", "most", "bat", "batcat", "nl", "od", "xxd", "hexdump", "strings", "pr",
    "fold", "fmt", "cut", "paste", "sort", "uniq", "rev", "column", "iconv", "base64", "diff", "cmp",
    "comm", "join", "jq", "tr", "expand", "unexpand", "view", "split", "csplit",
}  # fmt: skip
_PIP_INSTALLS = {"install", "uninstall", "download", "wheel", "remove"}
# Could program text write or delete files? A deliberately broad test in two parts: plain words, and
# any `>` not after `<` (redirects, but also `->` and comparisons), both checked without `re`; then
# the rare shapes only a regex reads (open(..., "w"), a bare w, perl's print {FH}).
_WRITE_WORDS = (
    "write", "unlink", "remove", "rename", "replace", "rmtree", "copy", "move", "truncate", "chmod",
    "system", "subprocess", "popen", "exec", "spawn", "shutil", "touch", "mkdir", "symlink", "sed", "dump",
)  # fmt: skip
_WRITE_SHAPES = r"open\s*\([^)]*['\"][rb]?[wax+]|\bw\b|print\s*\{"


# Could program text read a file it names? open(), Path(...).read_text(), np.load, awk's getline, perl's <F>,
# a shell-out.
_READ_WORDS = ("open", "read", "Path", "load", "getline", "system", "subprocess", "popen", "exec", "shutil",
               "fileinput", "linecache", "<")  # fmt: skip


_RUNS_WORDS = ("system", "subprocess", "popen", "exec", "spawn", "call(", "run(", "gitignore", "git")


def _opens_for_writing(code, needle):
    """open("...needle", "w"), with a literal path and a write mode: the one shape read as a real write."""
    import re

    name = re.escape(needle)
    shape = rf"""open\(\s*(['"])[^'"]*{name}\1\s*,\s*(?:mode\s*=\s*)?['"][rbt]*[wax+]"""
    return re.search(shape, code) is not None


def _writes_files(code, python=False):
    """Could this program text write or delete files? (a deliberately broad word list)

    Python writes only through calls (open(..., "w"), write, shutil, os, subprocess ...), so for Python
    a `>` (a comparison, `->`) and `dump` to stdout (json.dumps) are not read as writes."""
    words = _WRITE_WORDS if not python else [w for w in _WRITE_WORDS if w != "dump"]
    if any(word in code for word in words):
        return True
    arrow = -1 if python else code.find(">", 1)
    while arrow > 0:
        if code[arrow - 1] != "<":
            return True
        arrow = code.find(">", arrow + 1)
    import re

    return re.search(_WRITE_SHAPES, code) is not None


def _names_own_file(stem, code):
    """Does the code build its own path from `__file__` after naming `stem` (e.g. prepare)?"""
    import re

    return re.search(r"\b" + re.escape(stem) + r"\b.*__file__", code) is not None


def _is_python(name):
    """python, python3, python3.11, pypy3 ..."""
    for stem in ("python", "pypy"):
        if name.startswith(stem):
            return all(c in "0123456789." for c in name[len(stem) :])
    return False


def _is_versioned_pip(name):
    """pip3.11, pip2 ... (`pip\\d(\\.\\d+)?`)"""
    version = name[3:]
    if not name.startswith("pip") or not version[:1].isdigit() or not version[:1].isascii():
        return False
    return version[1:] == "" or (version[1] == "." and is_uint(version[2:]))


MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # tar members are read from headers: bounded work per tool call
MAX_ARCHIVE_MEMBERS = 20_000


def _archive_names(path, tool):
    """Member names of a zip or tar archive, [] when the file is missing (the command will fail),
    None when it cannot be listed (too big, corrupt, or more than MAX_ARCHIVE_MEMBERS members)."""
    try:
        if not os.path.isfile(path):
            return []
        if tool == "unzip":
            import zipfile

            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        else:
            if os.path.getsize(path) > MAX_ARCHIVE_BYTES:
                return None
            import tarfile

            names = []
            with tarfile.open(path) as archive:
                for member in archive:
                    names.append(member.name + ("/" if member.isdir() else ""))
                    if len(names) > MAX_ARCHIVE_MEMBERS:
                        return None
    except Exception:  # noqa: BLE001 - BadZipFile, TarError, OSError, a decompressor's own errors
        return None
    return names if len(names) <= MAX_ARCHIVE_MEMBERS else None


def _python_code_only(text):
    """Python source without `#` comments and multi-line triple-quoted strings (docstrings, prose), so a
    docstring that says "see prepare.py" is not read as code. Short strings, where paths live, stay."""
    out = []
    i = done = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(text[done:i])
            i = done = end
        elif c in "'\"":
            quote = text[i : i + 3] if text.startswith(c * 3, i) else c
            j = i + len(quote)
            while True:
                j = text.find(quote, j)
                if j < 0:
                    return "".join(out) + text[done:]  # unclosed: keep the rest as it is
                if text[j - 1] != "\\" or text[j - 2 : j] == "\\\\":
                    break
                j += 1
            j += len(quote)
            if len(quote) == 3 and "\n" in text[i:j]:
                out.append(text[done:i])
                done = j
            i = j
        else:
            i += 1
    out.append(text[done:])
    return "".join(out)


MAX_CODE_DEPTH = 3  # exec(open("a.py")) -> a.py imports b -> b.py ...


def _loaded_code_files(code, cwd):
    """Local .py files this program text runs: exec(open("x.py").read()), runpy.run_path("x.py"),
    spec_from_file_location(..., "x.py"), and `import x` / `from x import y` of a module beside it."""
    if ".py" not in code and "import" not in code:
        return []
    import re

    names = set(re.findall(r"""['"]([^'"\s]+\.py)['"]""", code))
    for module in re.findall(r"(?:^|[\s;])(?:from|import)\s+([A-Za-z_][\w.]*)", code):
        names.add(module.replace(".", "/") + ".py")
    out = []
    for name in sorted(names):
        path = os.path.normpath(os.path.join(cwd, name))
        if os.path.isfile(path):
            out.append(path)
    return out


def _is_count(text):
    """A number argument such as 50, +10 or -5 (not a file name)."""
    return is_uint(text[1:] if text[:1] in ("+", "-") else text)


_HANDLERS = {
    "grep": _Reader.grep,
    "egrep": _Reader.grep,
    "fgrep": _Reader.grep,
    "rg": _Reader.grep,
    "zgrep": _Reader.grep,
    "ag": _Reader.grep,
    "ack": _Reader.grep,
    "head": _Reader.head_tail,
    "tail": _Reader.head_tail,
    "sed": _Reader.sed,
    "gsed": _Reader.sed,
    "perl": _Reader.interpreter,
    "ruby": _Reader.interpreter,
    "node": _Reader.interpreter,
    "nodejs": _Reader.interpreter,
    "php": _Reader.interpreter,
    "awk": _Reader.interpreter,
    "gawk": _Reader.interpreter,
    "mawk": _Reader.interpreter,
    "nawk": _Reader.interpreter,
    "cp": _Reader.copy_like,
    "mv": _Reader.copy_like,
    "install": _Reader.copy_like,
    "rsync": _Reader.copy_like,
    "ln": _Reader.copy_like,
    "rm": _Reader.remove,
    "unlink": _Reader.remove,
    "shred": _Reader.remove,
    "rmdir": _Reader.remove,
    "tee": _Reader.tee,
    "sponge": _Reader.tee,
    "tar": _Reader.extract,
    "unzip": _Reader.extract,
    "truncate": _Reader.truncate,
    "touch": _Reader.plain_writer,
    "mkdir": _Reader.plain_writer,
    "chmod": _Reader.plain_writer,
    "chown": _Reader.plain_writer,
    "chgrp": _Reader.plain_writer,
    "chattr": _Reader.plain_writer,
    "setfacl": _Reader.plain_writer,
    "dd": _Reader.dd,
    "vi": _Reader.editor,
    "vim": _Reader.editor,
    "nvim": _Reader.editor,
    "nano": _Reader.editor,
    "emacs": _Reader.editor,
    "ed": _Reader.editor,
    "ex": _Reader.editor,
    "curl": _Reader.downloader,
    "wget": _Reader.downloader,
    "sort": _Reader.sort,
    "sqlite3": _Reader.query_cli,
    "duckdb": _Reader.query_cli,
    "patch": _Reader.patch,
    "git": _Reader.git,
    **{
        n: _Reader.installer
        for n in (
            "pip",
            "pip3",
            "pipx",
            "easy_install",
            "uv",
            "conda",
            "mamba",
            "micromamba",
            "poetry",
            "pdm",
            "hatch",
            "pipenv",
            "npm",
            "pnpm",
            "yarn",
            "bun",
            "apt",
            "apt-get",
            "aptitude",
            "dnf",
            "yum",
            "apk",
            "brew",
            "port",
            "zypper",
            "pacman",
            "gem",
            "cargo",
            "go",
        )
    },  # fmt: skip
}


# ---------------------------------------------------------------------------------------------
# Helpers


def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


_DEPENDENCY = ("dependenc", "==", ">=", "~=", "<=")


def _mentions_dependency(text):
    return any(word in text for word in _DEPENDENCY)


def _dependency_lines(text):
    return sorted(line.strip() for line in text.splitlines() if _mentions_dependency(line))


def _writes_header(text):
    """The text carries the results header (tabs, or `\\t` as in the protocol's `echo -e`)."""
    if "val_bpb" not in text:
        return False
    from . import ledger  # only here: the ledger's imports are too slow for every call

    return ledger.HEADER in text or ledger.HEADER.replace("\t", "\\t") in text


def _holds_no_rows(path):
    """True when the results file is absent or holds at most its header (ledger.HEADER): no row to lose."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(4097)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not data.strip():
        return True
    from . import ledger  # only here: the ledger's imports are too slow for every call

    return data.rstrip(b"\r\n") == ledger.HEADER.encode()


def _read_text(path, limit=1024 * 1024):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except (OSError, ValueError):
        return ""


def _dir_has_match(top, names, limit=2000):
    """Does any file under `top` match one of find's -name globs? (bounded walk)"""
    import fnmatch

    seen = 0
    for _, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            if any(fnmatch.fnmatchcase(name, n) for n in names):
                return True
            seen += 1
            if seen > limit:
                return True
    return False


def _is_path(arg, cmd):
    return os.path.exists(os.path.join(cmd.cwd, arg.value))


def _tool_texts(name, tool_input, new_only=False):
    if name == "Write":
        keys = ("content",)
    elif name == "Edit":
        keys = ("new_string",)
    elif name == "NotebookEdit":
        keys = ("new_source",)
    else:
        keys = ()
    texts = [tool_input.get(k) for k in keys]
    if name == "MultiEdit" and isinstance(tool_input.get("edits"), list):
        for edit in tool_input["edits"]:
            if isinstance(edit, dict):
                texts.append(edit.get("new_string"))
                texts.append(None if new_only else edit.get("old_string"))
    if name == "Edit" and not new_only:
        texts.append(tool_input.get("old_string"))
    return [t for t in texts if isinstance(t, str)]


def _drops_ignore(tool_input, t):
    pairs = []
    if isinstance(tool_input.get("old_string"), str):
        pairs.append((tool_input.get("old_string"), tool_input.get("new_string") or ""))
    for edit in tool_input.get("edits") or []:
        if isinstance(edit, dict) and isinstance(edit.get("old_string"), str):
            pairs.append((edit["old_string"], edit.get("new_string") or ""))
    names = [os.path.basename(u) for u in t.untracked] + [t.rel(u) for u in t.untracked]
    for old, new in pairs:
        if not isinstance(new, str):
            new = ""
        for n in names:
            if n in old and (n not in new or "!" + n in new):
                return True
        if any("!" + n in new for n in names):
            return True
    return False


# Short options of grep, and of rg/ag/ack where they differ, by their long names: one table, one reader.
_GREP_SHORT = {
    "e": "--regexp", "f": "--file", "m": "--max-count", "A": "--after-context", "B": "--before-context",
    "C": "--context", "d": "--directories", "D": "--devices", "v": "--invert-match", "c": "--count",
    "l": "--files-with-matches", "L": "--files-without-match", "q": "--quiet", "s": "--no-messages",
    "z": "--null-data", "E": "--extended-regexp", "F": "--fixed-strings", "P": "--perl-regexp",
    "G": "--basic-regexp", "x": "--line-regexp", "i": "--ignore-case",
}  # fmt: skip
_RG_SHORT = {k: v for k, v in _GREP_SHORT.items() if k not in "DG"} | {
    "d": "--max-depth", "g": "--glob", "t": "--type", "T": "--type-not", "M": "--max-columns",
    "j": "--threads", "r": "--replace", "E": "--encoding", "L": "--follow", "s": "--case-sensitive",
    "z": "--search-zip", "U": "--multiline", "P": "--pcre2",
}  # fmt: skip
_GREP_VALUE_OPTIONS = {
    "--regexp", "--file", "--max-count", "--context", "--after-context", "--before-context",
    "--directories", "--devices", "--include", "--exclude", "--exclude-dir", "--exclude-from", "--label",
    "--group-separator", "--binary-files", "--max-depth", "--glob", "--iglob", "--type", "--type-not",
    "--max-columns", "--threads", "--replace", "--encoding", "--context-separator", "--sort", "--sortr",
    "--type-add", "--pre", "--pre-glob", "--engine", "--max-filesize", "--path-separator",
    "--field-match-separator", "--field-context-separator",
}  # fmt: skip
_GREP_QUIET = {"--count", "--files-with-matches", "--files-without-match", "--quiet", "--silent", "--files"}
_GREP_WHOLE_FILE = {"--null-data", "--passthru", "--passthrough", "--multiline-dotall"}
_GREP_MODES = {
    "--extended-regexp": "ere", "--perl-regexp": "ere", "--pcre2": "ere", "--fixed-strings": "fixed",
    "--basic-regexp": "bre",
}  # fmt: skip


def _grep_options(cmd):
    """(patterns, file args, flags) of a grep-like command. A None pattern means `-f FILE`."""
    args = cmd.args[1:]
    rg = cmd.name in ("rg", "ag", "ack")
    short = _RG_SHORT if rg else _GREP_SHORT
    patterns, files, flags = [], [], {}
    mode = "ere" if cmd.name in ("egrep", "rg", "ag", "ack") else ("fixed" if cmd.name == "fgrep" else "bre")
    k = 0
    end = False

    def number(text):
        return int(text) if is_uint(text) else 10**9

    def option(name, value):
        nonlocal mode
        if name == "--regexp":
            patterns.append(value)
        elif name == "--file":
            patterns.append(None)
        elif name == "--max-count":
            flags["max"] = number(value)
        elif name in ("--context", "--after-context", "--before-context"):
            flags["context"] = max(flags.get("context") or 0, number(value))
        elif name == "--invert-match":
            flags["invert"] = True
        elif name in _GREP_QUIET:
            flags["quiet"] = True
        elif name in _GREP_WHOLE_FILE:
            flags["whole_file"] = True
        elif name in _GREP_MODES:
            mode = _GREP_MODES[name]
        elif name == "--line-regexp":
            flags["line"] = True
        elif name == "--ignore-case":
            flags["icase"] = True
        elif name == "--multiline":
            flags["multiline"] = True

    while k < len(args):
        a = args[k]
        v = a.value
        if not end and v == "--":
            end = True
        elif not end and v.startswith("--") and len(v) > 2:
            name, eq, value = v.partition("=")
            if name in _GREP_VALUE_OPTIONS and not eq and k + 1 < len(args):
                k += 1
                value = args[k].value
            option(name, value)
        elif not end and v.startswith("-") and len(v) > 1 and not a.dynamic:
            body = v[1:]
            if body.isdigit():  # -5 = --context 5
                option("--context", body)
            for j, ch in enumerate("" if body.isdigit() else body):
                name = short.get(ch, "")
                if name in _GREP_VALUE_OPTIONS:  # the rest of the word, or the next word, is its value
                    value = body[j + 1 :]
                    if not value and k + 1 < len(args):
                        k += 1
                        value = args[k].value
                    option(name, value)
                    break
                option(name, "")
        elif not patterns:
            patterns.append(v)  # the first operand is the pattern unless -e / -f gave one
        else:
            files.append(a)
        k += 1
    flags["mode"] = mode
    return patterns, files, flags


_SAMPLES = (
    "a",
    "Z9",
    "---",
    "  indented",
    "step 00042 (13.9%) | loss 3.141593 | lr 1.000 | dt 85ms",
    "FAIL: loss is nan at step 57",
    "val_bpb:          1.234567",
    "Traceback (most recent call last):",
)


def _bre_to_python(pattern):
    out = []
    k = 0
    while k < len(pattern):
        c = pattern[k]
        if c == "\\" and k + 1 < len(pattern):
            n = pattern[k + 1]
            out.append(n if n in "|(){}+?" else "\\" + n)
            k += 2
            continue
        out.append("\\" + c if c in "|(){}+?" else c)
        k += 1
    return "".join(out)


def _literal_alternatives(pattern, mode):
    """`^val_bpb:\\|^peak_vram_mb:` -> [(True, "val_bpb:", False), ...]: (anchored at start, text,
    anchored at end) per alternative, or None when any alternative is more than a plain string."""
    special = "\\.[]*^$" if mode == "bre" else "\\.[]*^$+?(){}|"
    out = []
    for alt in pattern.split("\\|" if mode == "bre" else "|"):
        start, end = alt.startswith("^"), alt.endswith("$") and len(alt) > 1
        text = alt[1 if start else 0 : -1 if end else len(alt)]
        if not text or any(c in special for c in text):
            return None
        out.append((start, text, end))
    return out


def _literal_matches(line, start, text, end, whole_line):
    if whole_line or (start and end):
        return line == text
    if start:
        return line.startswith(text)
    return line.endswith(text) if end else text in line


def _matches_everything(pattern, mode, icase=False, whole_line=False):
    """Would this pattern print (nearly) every line of a training log?"""
    if pattern == "":
        return True
    if mode == "fixed":
        return False
    literals = _literal_alternatives(pattern, mode)
    if literals is not None:  # the protocol's own greps: answered without `re`
        fold = str.lower if icase else str
        literals = [(start, fold(text), end) for start, text, end in literals]
        return all(
            any(_literal_matches(fold(line), *alt, whole_line) for alt in literals) for line in _SAMPLES
        )
    import re

    rx = _bre_to_python(pattern) if mode == "bre" else pattern
    rx = rx.replace("[[:space:]]", r"\s").replace("[[:alnum:]]", r"[A-Za-z0-9]").replace("[[:print:]]", ".")
    try:
        compiled = re.compile(rx, re.IGNORECASE if icase else 0)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    match = compiled.fullmatch if whole_line else compiled.search
    try:
        return all(match(sample) for sample in _SAMPLES)
    except (RecursionError, re.error):
        return False


_B64 = r"[A-Za-z0-9+/]{8,}={0,2}"
_HEX = r"(?:\\x)?([0-9a-fA-F]{2}(?:\\x)?){4,}"


def _sets_env(code, name):
    """Does this program text set the variable (environ[...] =, a dict entry, putenv, setdefault)?"""
    import re

    assigns = re.search(re.escape(name) + r"""['"]?\s*\]?\s*(=(?!=)|:)""", code)
    return bool(assigns) or any(word in code for word in ("putenv", "setdefault", "export "))


def _join_literals(text):
    r"""'pre' + 'pare.py', "pre" "pare.py", 'pre'.'pare.py' -> prepare.py (split-string obfuscation).

    Deletes, left to right, each quote + optional whitespace + at most one of `+ . ,` + optional
    whitespace + quote: the regex (['"])\s*[+.,]?\s*(['"]) with re.sub, hand-written to skip `re`.
    """
    out = []
    done = i = 0
    n = len(text)
    while i < n:
        if text[i] not in "'\"":
            i += 1
            continue
        j = i + 1
        while j < n and text[j].isspace():
            j += 1
        if j < n and text[j] in "+.,":
            j += 1
            while j < n and text[j].isspace():
                j += 1
        if j < n and text[j] in "'\"":
            out.append(text[done:i])
            done = i = j + 1
        else:
            i += 1
    out.append(text[done:])
    return "".join(out)


# Everything _join_literals can delete, for an ASCII text: its \s, the quotes and + . ,
_JOIN_JUNK = str.maketrans("", "", " \t\n\r\f\v\x1c\x1d\x1e\x1f'\"+.,")


def _may_reveal(text, name):
    """Could `name` be in _join_literals(text)? A regex-free pre-filter: the join only deletes
    _JOIN_JUNK, so squashing both sides keeps any match. Non-ASCII text always answers yes."""
    if not text.isascii():
        return True
    return name.translate(_JOIN_JUNK) in text.translate(_JOIN_JUNK)


def _views(text):
    """The text, plus what quote removal and common encodings (base64, hex, escapes, rev) reveal."""
    import re

    views = [text, re.sub(r"[\"'\\]", "", text)]
    if len(text) > 200_000:
        return views
    for m in re.finditer(_B64, text):
        chunk = m.group(0)
        try:
            import base64

            views.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=False).decode("latin-1"))
        except (ValueError, TypeError):
            pass
    for m in re.finditer(_HEX, text):
        digits = re.sub(r"\\x", "", m.group(0))
        if len(digits) % 2 == 0:
            try:
                views.append(bytes.fromhex(digits).decode("latin-1"))
            except ValueError:
                pass
    unescaped = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
    unescaped = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8) & 0xFF), unescaped)
    views.append(unescaped)
    views.append(re.sub(r"[\"'\\]", "", unescaped))
    views.append(text[::-1])
    views.append(_join_literals(text))
    return views
