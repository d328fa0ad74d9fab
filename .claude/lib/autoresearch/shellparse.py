"""Shell-aware reading of a Bash command line for the guard policy.

Stdlib only: the PreToolUse hook imports this on every tool call. No bashlex (GPL, and it
fails on common syntax). A small recursive-descent reader handles what agents actually type:
quotes and escapes, `;` `&&` `||` `|` `|&` `&` and newlines, `$(...)`, backticks, `(...)`,
`{ ...; }`, redirections, heredocs and here-strings. `analyse()` then expands what can be known
statically (variables set earlier in the line, `$PWD`, `$CLAUDE_PROJECT_DIR`, `~`, braces, `cd`),
strips wrappers (sudo, env, timeout, nohup, xargs, uv run, ...), and recurses into `bash -c`,
`eval`, `find -exec` and shell scripts read from disk.

Nothing here raises on bad input: a syntax error is reported in `Analysis.error`, and anything
that hides what it runs is marked `opaque` so the policy can fail closed on protected names.
"""

from __future__ import annotations

import os

# `re` is imported only inside the rare paths below (case, $'...', {1..3}): it costs the hook ~6 ms.
MAX_DEPTH = 6  # nested bash -c / eval / scripts
MAX_COMMANDS = 400  # simple commands per tool call
MAX_CHARS = 200_000  # longer command lines are not parsed (the policy falls back to a name check)
MAX_SCRIPT_BYTES = 256 * 1024  # shell scripts read from disk to follow `bash x.sh`

SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"}
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_GLOB_ESCAPES = str.maketrans({"*": "[*]", "?": "[?]", "[": "[[]"})
_KEYWORD_PREFIX = {"if", "then", "elif", "else", "do", "while", "until", "!", "time"}
_KEYWORD_END = {"fi", "done", "esac", "}"}
_BLOCK_OPEN = {"if", "while", "until", "for", "select"}  # closed by fi / done
_META = set(" \t\n;&|()<>")


def name_end(s: str, i: int = 0) -> int:
    """End of the shell name ([A-Za-z_][A-Za-z0-9_]*) starting at s[i]; i when none starts there."""
    if i >= len(s) or s[i] not in _NAME_START:
        return i
    j = i + 1
    while j < len(s) and s[j] in _NAME_CHARS:
        j += 1
    return j


def assignment_end(s: str) -> int:
    """Length of a leading `NAME=` or `NAME+=` in s; 0 when s does not start with one."""
    j = name_end(s)
    if j == 0:
        return 0
    if s.startswith("=", j):
        return j + 1
    return j + 2 if s.startswith("+=", j) else 0


def is_uint(text) -> bool:
    """ASCII digits only, at least one (what `\\d+` means to a shell tool)."""
    return bool(text) and all(c in _DIGITS for c in text)


def short_flags(word: str) -> str:
    """The letters of a bundled short option (`-rf` -> "rf"); "" for anything else."""
    letters = word[1:]
    if word[:1] == "-" and letters and all(c in _LETTERS for c in letters):
        return letters
    return ""


class ShellSyntaxError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Syntax: text -> simple commands


class Word:
    """A shell word as parts: ("lit", text, quoted), ("var", name, quoted), ("sub", text, quoted)."""

    __slots__ = ("parts",)

    def __init__(self):
        self.parts = []

    def add(self, kind, text, quoted):
        self.parts.append((kind, text, quoted))

    def literal(self):
        """The word's value when it has no expansions, else None."""
        if any(kind != "lit" for kind, _, _ in self.parts):
            return None
        return "".join(text for _, text, _ in self.parts)

    def source(self):
        """A readable rendering, with expansions spelled out (used for name checks)."""
        out = []
        for kind, text, _ in self.parts:
            out.append(text if kind == "lit" else ("$" + text if kind == "var" else "$(" + text + ")"))
        return "".join(out)

    def unquoted_prefix(self):
        kind, text, quoted = self.parts[0] if self.parts else ("lit", "", True)
        return "" if quoted or kind != "lit" else text


class Redirect:
    __slots__ = ("fd", "op", "target", "body", "delim", "strip_tabs", "quoted")

    def __init__(self, fd, op, target=None):
        self.fd = fd
        self.op = op
        self.target = target  # Word, or None for heredocs
        self.body = None  # heredoc / here-string text
        self.delim = None
        self.strip_tabs = False
        self.quoted = False


class Simple:
    """One simple command with the context the shell gives it."""

    __slots__ = ("words", "redirects", "outer", "pipe_in", "pipe_out", "pipe_err", "capture", "prev", "raw")

    def __init__(self):
        self.words = []
        self.redirects = []
        self.outer = []  # redirects of enclosing groups, outermost first
        self.pipe_in = False
        self.pipe_out = False
        self.pipe_err = False
        self.capture = False  # stdout goes into a $(...) / backtick substitution
        self.prev = None  # the Simple feeding this one's stdin through a pipe
        self.raw = ""


class _Syntax:
    def __init__(self, text):
        self.s = text
        self.i = 0
        self.n = len(text)
        self.out = []  # every Simple, in the order the reader finished them
        self.pending = []  # heredocs waiting for the next newline
        self.opaque = []  # text the reader could not analyse (case statements)
        self.blocks = []  # len(self.out) at each open if/while/until/for/select, innermost last

    # -- helpers
    def peek(self, k=0):
        j = self.i + k
        return self.s[j] if j < self.n else ""

    def startswith(self, tok):
        return self.s.startswith(tok, self.i)

    def skip_blanks(self, newlines=False):
        while self.i < self.n:
            c = self.s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and self.peek(1) == "\n":
                self.i += 2
            elif c == "\n" and newlines:
                self.i += 1
                self.read_heredocs()
            elif c == "#":
                while self.i < self.n and self.s[self.i] != "\n":
                    self.i += 1
            else:
                break

    def read_heredocs(self):
        """Called just after a newline: the bodies of pending heredocs follow, line by line."""
        pending, self.pending = self.pending, []
        for redir in pending:
            lines = []
            while True:
                if self.i >= self.n:
                    break  # bash accepts an unterminated heredoc at EOF (with a warning)
                end = self.s.find("\n", self.i)
                line = self.s[self.i : end if end >= 0 else self.n]
                self.i = end + 1 if end >= 0 else self.n
                check = line.lstrip("\t") if redir.strip_tabs else line
                if check == redir.delim:
                    break
                lines.append(check)
            redir.body = "\n".join(lines) + ("\n" if lines else "")
            if not redir.quoted:
                self.scan_expansions(redir.body)

    def scan_expansions(self, text):
        """Commands run by $(...) and backticks inside an unquoted heredoc body."""
        sub = _Syntax(text)
        sub.out = self.out
        while sub.i < sub.n:
            c = sub.s[sub.i]
            if c == "\\":
                sub.i += 2
            elif c == "$" and sub.peek(1) == "(" and sub.peek(2) != "(":
                sub.i += 2
                sub.command_sub()
            elif c == "`":
                sub.i += 1
                sub.backtick()
            else:
                sub.i += 1

    # -- grammar
    def parse(self):
        self.sequence(end=None)
        if self.pending:
            raise ShellSyntaxError("unterminated heredoc")
        return self.out

    def sequence(self, end):
        """A list of pipelines up to EOF, ')' or the word '}'. Returns the Simples sharing its stdout."""
        members = []
        while True:
            self.skip_blanks(newlines=True)
            if self.i >= self.n:
                if end is not None:
                    raise ShellSyntaxError(f"missing {end!r}")
                return members
            c = self.s[self.i]
            if end == ")" and c == ")":
                self.i += 1
                return members
            if end == "}" and c == "}" and (self.peek(1) in _META or self.peek(1) == ""):
                self.i += 1
                return members
            if c in ";&":
                self.i += 1
                continue
            if c == "|" or c == ")":
                raise ShellSyntaxError(f"unexpected {c!r}")
            members.extend(self.and_or(end))

    def and_or(self, end):
        members = self.pipeline(end)
        while True:
            self.skip_blanks()
            if self.startswith("&&") or self.startswith("||"):
                self.i += 2
                self.skip_blanks(newlines=True)
                members.extend(self.pipeline(end))
            else:
                return members

    def pipeline(self, end):
        stages = [self.command(end)]
        flags = []
        while True:
            self.skip_blanks()
            if self.peek() == "|" and self.peek(1) != "|":
                both = self.peek(1) == "&"
                self.i += 2 if both else 1
                self.skip_blanks(newlines=True)
                flags.append(both)
                stages.append(self.command(end))
            else:
                break
        for k, stage in enumerate(stages):
            for simple in stage:
                if k + 1 < len(stages):
                    simple.pipe_out = True
                    simple.pipe_err = simple.pipe_err or flags[k]
                if k > 0:
                    simple.pipe_in = True
                    if stages[k - 1] and simple is stage[0]:
                        simple.prev = stages[k - 1][-1]
        return [s for stage in stages for s in stage]

    def command(self, end):
        """A simple command or a compound one; returns the Simples whose output it carries."""
        self.skip_blanks()
        start = self.i
        if self.startswith("(("):
            close = self.s.find("))", self.i)
            if close < 0:
                raise ShellSyntaxError("missing '))'")
            self.i = close + 2
            return []
        if self.peek() == "(":
            self.i += 1
            members = self.sequence(end=")")
            return self.compound_tail(members)
        simple = Simple()
        while True:
            self.skip_blanks()
            c = self.peek()
            if c == "" or c in "\n;|)" or (c == "&" and self.peek(1) != ">"):
                break
            if c == "(":
                # `name() { ...; }` defines a function; its body runs later, so read it like any code.
                if len(simple.words) == 1 and self.s.startswith("()", self.i):
                    self.i += 2
                    simple.words = []
                    self.skip_blanks(newlines=True)
                    continue
                raise ShellSyntaxError("unexpected '('")
            if self.redirect(simple):
                continue
            if c in "<>" and self.peek(1) == "(":
                word = Word()
                self.i += 2
                inner_start = len(self.out)
                self.sequence(end=")")
                for inner in self.out[inner_start:]:
                    inner.pipe_out = inner.pipe_out or c == "<"
                    inner.pipe_in = inner.pipe_in or c == ">"
                word.add("sub", "process substitution", False)
                simple.words.append(word)
                continue
            word = self.word()
            unquoted = all(kind == "lit" and not quoted for kind, _, quoted in word.parts)
            head = word.literal() if unquoted and not simple.words and not simple.redirects else None
            if head is not None:
                if head in _BLOCK_OPEN:
                    self.blocks.append(len(self.out))
                if head == "{":
                    members = self.sequence(end="}")
                    return self.compound_tail(members)
                if head in _KEYWORD_PREFIX:
                    continue
                if head in _KEYWORD_END:
                    # `done < file`, `fi > file`: keep the redirects on a stand-in command.
                    simple.words.append(word)
                    continue
                if head == "case":
                    import re

                    m = re.compile(r"(^|[\s;])esac($|[\s;)&|])").search(self.s, self.i)
                    stop = m.end(0) if m else self.n
                    self.opaque.append(self.s[start:stop])
                    self.i = stop
                    return []
                if head in ("[[",):
                    simple.words.append(word)
                    self.test_words(simple)
                    continue
            simple.words.append(word)
        simple.raw = self.s[start : self.i]
        if simple.words or simple.redirects:
            if simple.words and simple.words[0].literal() in _KEYWORD_END and len(simple.words) == 1:
                simple.words = [Word()]
                simple.words[0].add("lit", ":", False)
                if simple.redirects and self.blocks:  # `done > run.log 2>&1` redirects the whole loop
                    for inner in self.out[self.blocks.pop() :]:
                        inner.outer = simple.redirects + inner.outer
                elif self.blocks:
                    self.blocks.pop()
            self.out.append(simple)
            return [simple]
        return []

    def compound_tail(self, members):
        """Redirects after `)` or `}` apply to every command inside."""
        holder = Simple()
        while True:
            self.skip_blanks()
            if not self.redirect(holder):
                break
        for simple in members:
            simple.outer = holder.redirects + simple.outer
        if holder.redirects and not members:
            holder.words = [Word()]
            holder.words[0].add("lit", ":", False)
            self.out.append(holder)
            return [holder]
        return members

    def test_words(self, simple):
        """Inside [[ ... ]] `<` and `>` compare strings; read plain words up to ]]."""
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                raise ShellSyntaxError("missing ']]'")
            if self.peek() in "<>":
                w = Word()
                w.add("lit", self.peek(), False)
                self.i += 1
                simple.words.append(w)
                continue
            if self.peek() in "\n;&|()":
                raise ShellSyntaxError("unexpected token inside [[ ]]")
            word = self.word()
            simple.words.append(word)
            if word.literal() == "]]":
                return

    def redirect(self, simple):
        j = self.i
        fd = None
        k = j
        while k < self.n and self.s[k] in _DIGITS:
            k += 1
        if k == j and self.s.startswith("{", j):
            close = name_end(self.s, j + 1)
            k = close + 1 if close > j + 1 and self.s.startswith("}", close) else j
        if k > j and self.s[k : k + 1] in ("<", ">"):  # 2>, {fd}>
            fd = self.s[j:k]
            j = k
        for op in ("&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<&", "<>", "<<", "<", ">"):
            if self.s.startswith(op, j):
                break
        else:
            return False
        if op in ("<", ">") and self.s[j + 1 : j + 2] == "(":
            return False  # process substitution, a word
        self.i = j + len(op)
        redir = Redirect(fd, op)
        self.skip_blanks()
        if self.i >= self.n or self.peek() in "\n;&|()<>":
            raise ShellSyntaxError(f"redirect {op!r} without a target")
        word = self.word()
        if op in ("<<", "<<-"):
            redir.delim = "".join(text for _, text, _ in word.parts)
            redir.quoted = any(q for _, _, q in word.parts)
            redir.strip_tabs = op == "<<-"
            self.pending.append(redir)
        elif op == "<<<":
            redir.target = word
            redir.body = word.source() + "\n"
        else:
            redir.target = word
        simple.redirects.append(redir)
        return True

    def word(self):
        word = Word()
        lit = []

        def flush():
            if lit:
                word.add("lit", "".join(lit), False)
                lit.clear()

        while self.i < self.n:
            c = self.s[self.i]
            if c in _META:
                if c == "(" and lit and _is_assignment("".join(lit)) and not word.parts:
                    # array assignment a=(x y): keep it as one literal
                    close = self.s.find(")", self.i)
                    if close < 0:
                        raise ShellSyntaxError("missing ')' in array assignment")
                    lit.append(self.s[self.i : close + 1])
                    self.i = close + 1
                    continue
                break
            if c == "\\":
                if self.peek(1) == "\n":
                    self.i += 2
                    continue
                if self.i + 1 >= self.n:
                    self.i += 1
                    continue
                flush()
                word.add("lit", self.s[self.i + 1], True)
                self.i += 2
            elif c == "'":
                close = self.s.find("'", self.i + 1)
                if close < 0:
                    raise ShellSyntaxError("unclosed single quote")
                flush()
                word.add("lit", self.s[self.i + 1 : close], True)
                self.i = close + 1
            elif c == '"':
                flush()
                self.i += 1
                self.double_quoted(word)
            elif c == "`":
                flush()
                self.i += 1
                word.add("sub", self.backtick(), False)
            elif c == "$":
                flush()
                self.dollar(word, quoted=False)
            else:
                lit.append(c)
                self.i += 1
        flush()
        if not word.parts:
            word.add("lit", "", True)
        return word

    def double_quoted(self, word):
        buf = []

        def flush():
            if buf:
                word.add("lit", "".join(buf), True)
                buf.clear()

        while True:
            if self.i >= self.n:
                raise ShellSyntaxError("unclosed double quote")
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                flush()
                if not word.parts:
                    word.add("lit", "", True)
                return
            if c == "\\" and self.peek(1) in '$`"\\\n':
                if self.peek(1) != "\n":
                    buf.append(self.peek(1))
                self.i += 2
            elif c == "`":
                flush()
                self.i += 1
                word.add("sub", self.backtick(), True)
            elif c == "$":
                flush()
                self.dollar(word, quoted=True)
            else:
                buf.append(c)
                self.i += 1

    def dollar(self, word, quoted):
        nxt = self.peek(1)
        if self.startswith("$(("):
            depth, j = 0, self.i + 1
            while j < self.n:
                if self.s[j] == "(":
                    depth += 1
                elif self.s[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= self.n:
                raise ShellSyntaxError("missing '))'")
            word.add("sub", self.s[self.i + 3 : j - 1], quoted)
            self.i = j + 1
        elif nxt == "(":
            self.i += 2
            word.add("sub", self.command_sub(), quoted)
        elif nxt == "{":
            close = self.s.find("}", self.i + 2)
            if close < 0:
                raise ShellSyntaxError("missing '}' in ${...}")
            inner = self.s[self.i + 2 : close]
            end = name_end(inner)
            name = inner[:end] if end else inner
            if end and end < len(inner):
                name = inner  # ${X:-y}, ${X/a/b}: not a plain value
            word.add("var", name, quoted)
            self.i = close + 1
        elif nxt == "'" and not quoted:
            text, self.i = _ansi_c(self.s, self.i + 2)
            word.add("lit", text, True)
        elif nxt == '"' and not quoted:
            self.i += 1  # $"..." is a translated string: same as "..."
        else:
            end = name_end(self.s, self.i + 1)
            if end > self.i + 1:
                word.add("var", self.s[self.i + 1 : end], quoted)
                self.i = end
            elif nxt and nxt in "0123456789@*#?$!-":
                word.add("var", nxt, quoted)
                self.i += 2
            else:
                word.add("lit", "$", quoted)
                self.i += 1

    def command_sub(self):
        """Just after `$(`: read the commands inside; their stdout is captured."""
        start = self.i
        first = len(self.out)
        self.sequence(end=")")
        for simple in self.out[first:]:
            simple.capture = True
        return self.s[start : self.i - 1]

    def backtick(self):
        """Just after a backtick: the body up to the closing one, read as its own script."""
        buf = []
        while True:
            if self.i >= self.n:
                raise ShellSyntaxError("unclosed backtick")
            c = self.s[self.i]
            if c == "\\" and self.peek(1) in "`$\\":
                buf.append(self.peek(1))
                self.i += 2
                continue
            self.i += 1
            if c == "`":
                break
            buf.append(c)
        body = "".join(buf)
        sub = _Syntax(body)
        first = len(self.out)
        sub.out = self.out
        sub.parse()
        self.opaque.extend(sub.opaque)
        for simple in self.out[first:]:
            simple.capture = True
        return body


_PWD_COMMANDS = ("pwd", "pwd -L", "pwd -P", "builtin pwd")


def _is_assignment(text):
    """Exactly `NAME=` or `NAME+=` (the start of an array assignment `a=(x y)`)."""
    return bool(text) and assignment_end(text) == len(text)


def _ansi_c(s, i):
    """Decode $'...' starting just after the quote; returns (text, index after the closing quote)."""
    import re

    out = []
    simple = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f"}
    simple.update({"v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"})
    n = len(s)
    while i < n:
        c = s[i]
        if c == "'":
            return "".join(out), i + 1
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            m = re.compile(r"[0-9a-fA-F]{1,2}").match(s, i + 2)
            out.append(chr(int(m.group(0), 16)) if m else "\\x")
            i = m.end() if m else i + 2
        elif e in "uU":
            m = re.compile(r"[0-9a-fA-F]{1,8}").match(s, i + 2)
            try:
                out.append(chr(int(m.group(0), 16)) if m else "\\" + e)
            except (ValueError, OverflowError):
                out.append("?")
            i = m.end() if m else i + 2
        elif e in "01234567":
            m = re.compile(r"[0-7]{1,3}").match(s, i + 1)
            out.append(chr(int(m.group(0), 8) & 0xFF))
            i = m.end()
        else:
            out.append("\\" + e)
            i += 2
    raise ShellSyntaxError("unclosed $'...' quote")


def parse(text: str):
    """Text -> (list of Simple, opaque texts, error or None). Never raises."""
    syntax = _Syntax(text)
    try:
        syntax.parse()
        return syntax.out, syntax.opaque, None
    except ShellSyntaxError as exc:
        return syntax.out, syntax.opaque, str(exc)
    except Exception as exc:  # noqa: BLE001 - the reader must never take the hook down
        return syntax.out, syntax.opaque, f"cannot read the command ({type(exc).__name__})"


# ---------------------------------------------------------------------------------------------
# Meaning: simple commands -> resolved commands


class Arg:
    """One argument after expansion: its value, whether it hides a runtime value, its glob."""

    __slots__ = ("value", "dynamic", "pattern", "found", "hidden")

    def __init__(self, value, dynamic=False, pattern=None, found=False, hidden=""):
        self.value = value
        self.dynamic = dynamic  # contains $var / $(...) the reader cannot know
        self.pattern = pattern  # glob pattern when unquoted * ? [ appear
        self.found = found  # find -exec's {} placeholder
        self.hidden = hidden  # source text of the unknown parts

    def __repr__(self):
        return f"Arg({self.value!r})"


class Cmd:
    """A command as it will run: argv after wrappers, cwd, where its streams go."""

    __slots__ = (
        "args",
        "cwd",
        "redirects",
        "stdout",
        "stderr",
        "stdin",
        "stdin_text",
        "wrappers",
        "xargs",
        "find_scope",
        "assigned",
        "opaque",
        "depth",
        "raw",
    )

    def __init__(self, args, cwd):
        self.args = args
        self.cwd = cwd
        self.redirects = []  # (fd, op, Arg or None)
        self.stdout = ("tty", None)
        self.stderr = ("tty", None)
        self.stdin = ("tty", None)
        self.stdin_text = None  # heredoc / here-string / literal echo piped in
        self.wrappers = []  # (name, [option args]) stripped in front of the command
        self.xargs = False  # more arguments arrive at run time (xargs)
        self.find_scope = None  # (roots, name globs, path globs) for {} of find -exec / -delete
        self.assigned = []  # environment names this command sets
        self.opaque = None  # why the reader cannot tell what runs, or None
        self.depth = 0
        self.raw = ""

    @property
    def argv(self):
        return [a.value for a in self.args]

    @property
    def name(self):
        if not self.args:
            return ""
        return os.path.basename(self.args[0].value)

    def __repr__(self):
        return f"Cmd({self.argv!r}, out={self.stdout[0]}, err={self.stderr[0]})"


class Analysis:
    __slots__ = ("commands", "error", "opaque_texts")

    def __init__(self):
        self.commands = []
        self.error = None
        self.opaque_texts = []


def analyse(text: str, cwd: str, env: dict | None = None) -> Analysis:
    """Read a Bash command line into resolved commands. Never raises."""
    result = Analysis()
    if not isinstance(text, str):
        result.error = "the command is not a string"
        return result
    if len(text) > MAX_CHARS:
        result.error = f"the command is longer than {MAX_CHARS} characters"
        return result
    state = _Expander(result, env or {}, cwd)
    try:
        state.run(text, cwd, ("tty", None), ("tty", None), 0)
    except RecursionError:
        result.error = "the command nests too deeply"
    return result


def brace_expand(text: str, limit: int = 64) -> list[str]:
    """a{b,c}d -> [abd, acd]; sequences like {1..3} too. Left as is when unbalanced."""
    depth = 0
    start = -1
    for k, c in enumerate(text):
        if c == "{":
            if depth == 0:
                start = k
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = text[start + 1 : k]
                opts = _split_top_commas(inner)
                if len(opts) == 1:
                    import re

                    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", inner)
                    if not m:
                        continue
                    lo, hi = int(m.group(1)), int(m.group(2))
                    step = 1 if hi >= lo else -1
                    opts = [str(v) for v in range(lo, hi + step, step)][:limit]
                pre, post = text[:start], text[k + 1 :]
                out = []
                for opt in opts:
                    for tail in brace_expand(post, limit):
                        out.append(pre + opt + tail)
                        if len(out) >= limit:
                            return out
                return out
    return [text]


def _split_top_commas(inner):
    parts, depth, cur = [], 0, []
    for c in inner:
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += c == "{"
        depth -= c == "}" and depth > 0
        cur.append(c)
    parts.append("".join(cur))
    return parts


class _Expander:
    def __init__(self, result, env, cwd):
        self.result = result
        self.env = env
        self.vars = {}
        self.home = env.get("HOME") or os.environ.get("HOME") or "/root"
        self.root = env.get("CLAUDE_PROJECT_DIR") or cwd
        # The sandbox gives every command a private temp folder; whatever it is, it is no guarded file.
        self.tmpdir = env.get("TMPDIR") or os.environ.get("TMPDIR") or "/tmp"

    # -- variables
    def lookup(self, name, cwd):
        if name in self.vars:
            return self.vars[name]
        if name == "PWD":
            return cwd
        if name == "HOME":
            return self.home
        if name == "CLAUDE_PROJECT_DIR":
            return self.root
        if name == "TMPDIR":
            return self.tmpdir
        for op in (":-", ":=", "-", "="):  # ${NAME:-default} of a name the reader knows
            base, found, default = name.partition(op)
            if found and base and name_end(base) == len(base):
                value = self.lookup(base, cwd)
                if value is None:
                    return None
                if value == "" and op.startswith(":") and "$" not in default and "`" not in default:
                    return default
                return value
        return None

    def expand(self, word, cwd):
        """Word -> list of Arg (brace expansion and field splitting of a lone $VAR)."""
        values = [""]
        pattern = []
        dynamic = False
        hidden = []
        has_glob = False
        brace = False
        for n, (kind, text, quoted) in enumerate(word.parts):
            if kind == "lit":
                chunk = text
                if n == 0 and not quoted and (chunk == "~" or chunk.startswith("~/")):
                    chunk = (self.vars.get("HOME") or self.home) + chunk[1:]
                if not quoted and any(ch in chunk for ch in "*?["):
                    has_glob = True
                    pattern.append(chunk)
                else:
                    pattern.append(_glob_escape(chunk))
                if not quoted and "{" in chunk and "}" in chunk:
                    brace = True
            elif kind == "var":
                value = self.lookup(text, cwd)
                if value is None:
                    dynamic = True
                    hidden.append("$" + text)
                    chunk = "$" + text
                else:
                    chunk = value
                    if not quoted and len(word.parts) == 1 and len(value.split()) > 1:
                        return [Arg(v, pattern=None) for v in value.split()]
                pattern.append(_glob_escape(chunk))
            elif text.strip() in _PWD_COMMANDS:
                chunk = cwd  # "$(pwd)/run.log" names a file as plainly as ./run.log
                pattern.append(_glob_escape(chunk))
            elif text.strip() == "git rev-parse --show-toplevel":
                chunk = self.root
                pattern.append(_glob_escape(chunk))
            elif text.strip().split(" ")[0] == "mktemp" and "/" not in text and "$" not in text:
                chunk = os.path.join(self.tmpdir, "tmp.mktemp")  # a fresh temp file: never a guarded one
                pattern.append(_glob_escape(chunk))
            else:
                dynamic = True
                hidden.append(text)
                chunk = "$(" + text + ")"
                pattern.append(_glob_escape(chunk))
            values = [v + chunk for v in values]
        value = values[0]
        if brace and not dynamic:
            expanded = brace_expand(value)
            if len(expanded) > 1:
                return [Arg(v, pattern=v if any(ch in v for ch in "*?[") else None) for v in expanded]
        return [Arg(value, dynamic, "".join(pattern) if has_glob else None, hidden=" ".join(hidden))]

    # -- main loop
    def run(self, text, cwd, stdout, stderr, depth, stdin=None):
        simples, opaque, error = parse(text)
        if error and depth == 0:
            self.result.error = error
        elif error:
            self.result.opaque_texts.append(text)
        self.result.opaque_texts.extend(opaque)
        by_simple = {}
        for simple in simples:
            if len(self.result.commands) >= MAX_COMMANDS:
                self.result.error = self.result.error or f"more than {MAX_COMMANDS} commands"
                return cwd
            cwd = self.simple(simple, cwd, stdout, stderr, depth, by_simple, stdin)
        return cwd

    def assigned_value(self, name, value, dynamic, appends):
        """NAME=value, or NAME+=value (appends to what NAME held); None when it is not known."""
        if dynamic:
            return None
        if not appends:
            return value
        before = self.vars.get(name)  # None: set at run time, or in the environment the reader cannot see
        return None if before is None else before + value

    def simple(self, simple, cwd, base_out, base_err, depth, by_simple, base_in):
        words = list(simple.words)
        assigns = []
        while words and assignment_end(words[0].unquoted_prefix() or ""):
            assigns.append(words.pop(0))
        args = []
        for w in words:
            args.extend(self.expand(w, cwd))
        assigned = []
        for w in assigns:
            arg = self.expand(w, cwd)[0]
            name, _, value = arg.value.partition("=")
            appends = name.endswith("+")
            name = name.rstrip("+")
            assigned.append(name)
            if not args:  # a bare assignment lasts for the rest of the line
                self.vars[name] = self.assigned_value(name, value, arg.dynamic, appends)
        cmd = Cmd(args, cwd)
        cmd.depth = depth
        cmd.raw = simple.raw
        cmd.assigned = assigned
        by_simple[id(simple)] = cmd
        # Streams: the pipe or capture first, then group redirects, then the command's own.
        out = ("capture", None) if simple.capture else (("pipe", None) if simple.pipe_out else base_out)
        err = base_err
        stdin = ("pipe", None) if simple.pipe_in else (base_in or ("tty", None))
        if simple.pipe_in and simple.prev is not None:
            feeder = by_simple.get(id(simple.prev))
            if feeder is not None:
                cmd.stdin_text = _literal_output(feeder)
        fds = {"1": out, "2": err, "0": stdin}
        for redir in simple.outer + simple.redirects:
            target = self.expand(redir.target, cwd)[0] if redir.target is not None else None
            cmd.redirects.append((redir.fd, redir.op, target))
            fd = redir.fd
            op = redir.op
            if op in ("<<", "<<-", "<<<"):
                fds[fd or "0"] = ("text", None)
                cmd.stdin_text = redir.body
                continue
            dest = ("file", target)
            if target is not None and target.value.startswith("/dev/"):
                dest = ("null", target) if target.value == "/dev/null" else ("tty", target)
            if op in (">&", "<&") and target is not None and (target.value.isdigit() or target.value == "-"):
                src = target.value
                fds[fd or ("1" if op == ">&" else "0")] = fds.get(src, ("closed", None))
                continue
            if op in ("&>", "&>>") or (op == ">&" and fd is None):
                fds["1"] = dest
                fds["2"] = dest
            elif op in ("<", "<>"):
                fds[fd or "0"] = dest
            else:
                fds[fd or "1"] = dest
        if simple.pipe_err:
            fds["2"] = fds["1"]
        cmd.stdout, cmd.stderr, cmd.stdin = fds["1"], fds["2"], fds["0"]
        self.result.commands.append(cmd)
        if args:
            cwd = self.meaning(cmd, depth)
        return cwd

    def meaning(self, cmd, depth):
        """Strip wrappers, follow nested shells; returns the cwd for the next command."""
        cwd = cmd.cwd
        self.unwrap(cmd)
        if not cmd.args:
            return cwd
        head = cmd.args[0]
        if head.dynamic:
            cmd.opaque = f"the command name comes from {head.hidden or head.value} at run time"
            return cwd
        name = cmd.name
        argv = cmd.argv
        if name in ("cd", "pushd") and not cmd.wrappers:
            target = next((a for a in cmd.args[1:] if not a.value.startswith("-")), None)
            if target is None:
                return self.home
            if target.dynamic:
                return self.root
            return os.path.normpath(os.path.join(cwd, target.value))
        if name in ("export", "declare", "typeset", "local", "readonly"):
            for a in cmd.args[1:]:
                if not a.value.startswith("-"):
                    n, eq, v = a.value.partition("=")
                    cmd.assigned.append(n.rstrip("+"))
                    if eq:
                        self.vars[n.rstrip("+")] = self.assigned_value(
                            n.rstrip("+"), v, a.dynamic, n.endswith("+")
                        )
            return cwd
        if depth >= MAX_DEPTH:
            if name in SHELLS or name in ("eval", "source", "."):
                cmd.opaque = "commands nest deeper than the reader follows"
            return cwd
        if name == "eval":
            body = " ".join(argv[1:])
            if any(a.dynamic for a in cmd.args[1:]):
                cmd.opaque = "eval runs text built at run time"
            self.run(body, cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)
        elif name in SHELLS:
            self.shell(cmd, depth)
        elif name in ("source", ".") and len(argv) > 1:
            self.script_file(cmd, cmd.args[1], depth)
        elif name == "watch":
            rest = [a for a in cmd.args[1:]]
            while rest and rest[0].value.startswith("-"):
                opt = rest.pop(0).value
                if (
                    opt in ("-n", "--interval", "-d", "--differences")
                    and rest
                    and opt in ("-n", "--interval")
                ):
                    rest.pop(0)
            self.run(" ".join(a.value for a in rest), cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)
        elif name == "find":
            self.find(cmd, depth)
        elif name == "script":
            for k, a in enumerate(cmd.args[1:-1], start=1):
                if a.value in ("-c", "--command"):
                    self.run(cmd.args[k + 1].value, cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)
        elif "/" in head.value:
            self.executable(cmd, depth)
        return cwd

    def executable(self, cmd, depth):
        """`./x.sh` or `./x.py`: a python file becomes `python x.py`; a shell script is read and followed."""
        path = os.path.join(cmd.cwd, os.path.expanduser(cmd.args[0].value))
        if cmd.args[0].value.endswith(".py"):
            cmd.args = [Arg("python")] + cmd.args
            return
        try:
            with open(path, "rb") as fh:
                first = fh.readline(200)
        except (OSError, ValueError):
            return
        if b"python" in first:
            cmd.args = [Arg("python")] + cmd.args
        elif first.startswith(b"#!") and not any(s.encode() in first for s in SHELLS):
            return
        else:
            self.script_file(cmd, cmd.args[0], depth)

    def shell(self, cmd, depth):
        args = cmd.args[1:]
        if cmd.name == "busybox" and args:
            cmd.args = args
            return self.meaning(cmd, depth)
        script = None
        k = 0
        while k < len(args):
            v = args[k].value
            if v == "--":
                k += 1
                break
            if v.startswith("-") and len(v) > 1 or v.startswith("+"):
                if "c" in v[1:] and not v.startswith("--"):
                    script = args[k + 1] if k + 1 < len(args) else None
                    break
                if v in ("-o", "+o", "--rcfile", "--init-file"):
                    k += 1
                k += 1
                continue
            break
        if script is not None:
            if script.dynamic:
                cmd.opaque = f"{cmd.name} -c runs text built at run time"
            self.run(script.value, cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)
            return
        if k < len(args):
            self.script_file(cmd, args[k], depth)
            return
        if cmd.stdin_text is not None:
            self.run(cmd.stdin_text, cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)
        elif cmd.stdin[0] == "file" and cmd.stdin[1] is not None:
            self.script_file(cmd, cmd.stdin[1], depth)
        elif cmd.stdin[0] in ("pipe", "file"):
            cmd.opaque = f"{cmd.name} reads commands from its input"

    def script_file(self, cmd, arg, depth):
        if arg.dynamic:
            cmd.opaque = f"{cmd.name} runs a script named at run time"
            return
        path = os.path.join(cmd.cwd, os.path.expanduser(arg.value))
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_SCRIPT_BYTES + 1)
        except (OSError, ValueError):
            # Not there yet: written by this same call (`printf ... > s.sh && sh s.sh`), or the call fails.
            cmd.opaque = f"{cmd.name} runs {arg.value}, which does not exist yet"
            return
        if len(data) > MAX_SCRIPT_BYTES:
            cmd.opaque = f"{arg.value} is too large to read"
            return
        self.run(data.decode("utf-8", "replace"), cmd.cwd, cmd.stdout, cmd.stderr, depth + 1)

    def find(self, cmd, depth):
        args = cmd.args[1:]
        roots, names, paths = [], [], []
        k = 0
        while k < len(args) and not args[k].value.startswith(("-", "(", "!")):
            roots.append(args[k].value)
            k += 1
        scope = (roots or ["."], names, paths)
        while k < len(args):
            v = args[k].value
            if v in ("-name", "-iname") and k + 1 < len(args):
                names.append(args[k + 1].value)
                k += 2
                continue
            if v in ("-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex") and k + 1 < len(
                args
            ):
                paths.append(args[k + 1].value)
                k += 2
                continue
            if v in ("-exec", "-execdir", "-ok", "-okdir"):
                inner = []
                k += 1
                while k < len(args) and args[k].value not in (";", "+"):
                    a = args[k]
                    if "{}" in a.value:
                        a = Arg(a.value, a.dynamic, a.pattern, found=True, hidden=a.hidden)
                    inner.append(a)
                    k += 1
                self.nested(cmd, inner, scope, depth)
            elif v == "-delete":
                self.nested(cmd, [Arg("rm"), Arg("-r"), Arg("{}", found=True)], scope, depth)
            elif v in ("-fprint", "-fprint0", "-fprintf", "-fls") and k + 1 < len(args):
                self.nested(cmd, [Arg("tee"), args[k + 1]], scope, depth)
            k += 1

    def nested(self, parent, args, scope, depth):
        if not args:
            return
        sub = Cmd(args, parent.cwd)
        sub.depth = depth + 1
        sub.raw = parent.raw
        sub.stdout, sub.stderr = parent.stdout, parent.stderr
        sub.find_scope = scope
        self.result.commands.append(sub)
        self.meaning(sub, depth + 1)

    def unwrap(self, cmd):
        """Remove prefixes that only change how a command runs, recording them in cmd.wrappers."""
        for _ in range(16):
            if not cmd.args or cmd.args[0].dynamic:
                return
            name = cmd.name
            rest = cmd.args[1:]
            taken = _WRAPPERS.get(name)
            if (
                name == "uv"
                and rest
                and rest[0].value in ("run", "tool")
                or name in ("uvx", "poetry", "pipenv", "pdm", "hatch", "conda", "mamba", "micromamba")
            ):
                new = self.unwrap_runner(cmd, name, rest)
                if new is None:
                    return
                continue
            if name == "env":
                k = 0
                opts = []
                while k < len(rest):
                    v = rest[k].value
                    if v in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string") and k + 1 < len(rest):
                        if v in ("-C", "--chdir"):
                            cmd.cwd = os.path.normpath(os.path.join(cmd.cwd, rest[k + 1].value))
                        if v in ("-S", "--split-string"):
                            simples, _, _ = parse(rest[k + 1].value)
                            extra = [a for s in simples[:1] for w in s.words for a in self.expand(w, cmd.cwd)]
                            rest = extra + rest[k + 2 :]
                            k = 0
                            continue
                        opts += [v, rest[k + 1].value]
                        k += 2
                    elif v.startswith("-") and v != "-" or v == "--":
                        opts.append(v)
                        k += 1
                    elif assignment_end(v):
                        cmd.assigned.append(v.partition("=")[0].rstrip("+"))
                        k += 1
                    else:
                        break
                cmd.wrappers.append(("env", opts))
                cmd.args = rest[k:]
                continue
            if name == "xargs":
                k, opts = _skip_options(rest, _XARGS_ARG_OPTS)
                cmd.wrappers.append(("xargs", opts))
                cmd.xargs = True
                cmd.args = rest[k:] or [Arg("echo")]
                continue
            if name == "command" and rest and rest[0].value in ("-v", "-V"):
                cmd.args = [Arg("true")]
                return
            if taken is None:
                return
            k, opts = _skip_options(rest, taken)
            if name == "timeout" and k < len(rest):
                opts.append(rest[k].value)
                k += 1  # the duration
            if name in ("taskset", "chrt", "flock") and k < len(rest) and not rest[k].value.startswith("-"):
                opts.append(rest[k].value)
                k += 1  # mask / priority / lock file
            cmd.wrappers.append((name, opts))
            cmd.args = rest[k:]

    def unwrap_runner(self, cmd, name, rest):
        """`uv run [opts] x.py` -> `python x.py`; `uv run cmd` -> `cmd`; uvx/poetry run/conda run too."""
        if name == "uv":
            sub = rest[0].value
            if sub == "tool":
                if len(rest) < 2 or rest[1].value != "run":
                    return None
                rest = rest[2:]
                label = "uv tool run"
            else:
                rest = rest[1:]
                label = "uv run"
        elif name == "uvx":
            label = "uvx"
        else:
            if not rest or rest[0].value not in ("run", "exec"):
                return None
            rest = rest[1:]
            label = name + " run"
        k, opts = _skip_options(rest, _UV_RUN_ARG_OPTS)
        for n, opt in enumerate(opts):
            if opt in ("--directory", "--project", "--cwd") and n + 1 < len(opts):
                cmd.cwd = os.path.normpath(os.path.join(cmd.cwd, opts[n + 1]))
        cmd.wrappers.append((label, opts))
        rest = rest[k:]
        if "-m" in opts or "--module" in opts:
            mod = opts[opts.index("-m" if "-m" in opts else "--module") + 1 :]
            rest = [Arg("python"), Arg("-m")] + [Arg(m) for m in mod] + rest
        elif rest and rest[0].value.endswith(".py") and not rest[0].dynamic:
            rest = [Arg("python")] + rest
        cmd.args = rest
        return rest


def _glob_escape(text):
    return text.translate(_GLOB_ESCAPES)


def _skip_options(args, takes_value):
    """Skip leading options; `takes_value` names the options that consume the next word."""
    k, opts = 0, []
    while k < len(args):
        v = args[k].value
        if v == "--":
            opts.append(v)
            k += 1
            break
        if not v.startswith("-") or v == "-":
            break
        opts.append(v)
        k += 1
        if v in takes_value and "=" not in v and k < len(args):
            opts.append(args[k].value)
            k += 1
        elif v[:2] in takes_value and len(v) == 2 and k < len(args):
            opts.append(args[k].value)
            k += 1
    return k, opts


def _literal_output(cmd):
    """What echo/printf/cat-heredoc write, when it is fixed text (to follow `echo ... | sh`)."""
    if cmd.opaque or any(a.dynamic for a in cmd.args):
        return None
    name = cmd.name
    argv = cmd.argv
    if name == "echo":
        words = argv[1:]
        while words and words[0] in ("-n", "-e", "-E", "-ne", "-en"):
            words = words[1:]
        return " ".join(words) + "\n"
    if name == "printf" and len(argv) > 1:
        try:
            return argv[1].encode("latin-1", "backslashreplace").decode("unicode_escape") % tuple(argv[2:])
        except (TypeError, ValueError, UnicodeError):
            return " ".join(argv[1:])
    if name == "cat" and len(argv) == 1:
        return cmd.stdin_text
    return None


_WRAPPERS = {
    # wrapper: options that take a value
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group"},
    "doas": {"-u", "-C"},
    "command": set(),
    "builtin": set(),
    "exec": {"-a"},
    "nice": {"-n", "--adjustment"},
    "nohup": set(),
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "time": {"-f", "-o", "--format", "--output"},
    "stdbuf": {"-i", "-o", "-e"},
    "setsid": set(),
    "ionice": {"-c", "-n", "-t", "-p", "-P", "-u"},
    "chrt": set(),
    "taskset": set(),
    "flock": {"-w", "-E", "--timeout", "--conflict-exit-code"},
    "unbuffer": set(),
    "caffeinate": set(),
    "noglob": set(),
    "nocorrect": set(),
    "strace": {"-o", "-e", "-p", "-s"},
    "ltrace": {"-o", "-e", "-p", "-s"},
}
_XARGS_ARG_OPTS = {"-n", "-L", "-I", "-P", "-d", "-E", "-s", "-a", "--max-args", "--arg-file", "--delimiter"}
_UV_RUN_ARG_OPTS = {
    "--with",
    "--with-editable",
    "--with-requirements",
    "--python",
    "-p",
    "--env-file",
    "--directory",
    "--project",
    "--package",
    "--extra",
    "--group",
    "--only-group",
    "--no-group",
    "--index",
    "--index-url",
    "--extra-index-url",
    "--from",
    "-m",
    "--module",
    "-n",
    "--name",
    "--cwd",
    "-w",
    "--cache-dir",
    "--config-file",
}


# ---------------------------------------------------------------------------------------------
# Paths


def normalise(value: str, cwd: str, home: str | None = None) -> str:
    """A path as the shell would open it: ~ expanded, joined to cwd, `..` collapsed, links resolved."""
    if value.startswith("~"):
        home = home or os.environ.get("HOME") or "/root"
        if value == "~" or value.startswith("~/"):
            value = home + value[1:]
    path = os.path.normpath(os.path.join(cwd, value))
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def glob_prefix_match(pattern: str, path: str) -> str | None:
    """Match an absolute glob against `path` or one of its ancestors, segment by segment.

    Returns the matched path (path itself or an ancestor), or None. `*` never crosses `/`
    and never matches a leading dot, as in bash.
    """
    import fnmatch

    psegs = [p for p in pattern.split("/") if p not in ("", ".")]
    wsegs = [w for w in path.split("/") if w]
    if len(psegs) > len(wsegs):
        return None
    for p, w in zip(psegs, wsegs, strict=False):
        if p == "..":
            return None
        if w.startswith(".") and not p.startswith(".") and not p.startswith("[.]"):
            if p != w:
                return None
        if not fnmatch.fnmatchcase(w, p):
            return None
    return "/" + "/".join(wsegs[: len(psegs)])
