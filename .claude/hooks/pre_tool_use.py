#!/usr/bin/env python3
"""PreToolUse hook: one guard verdict per tool call, from autoresearch.policy (docs/guards.md).

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/pre_tool_use.py` with Claude Code's JSON on stdin.
Stdlib only, always exits 0 (exit 2 would block every tool call). Outcomes:
  python3 older than 3.11   -> deny every call, the reason names the fix (fail closed)
  deny                      -> stdout {"hookSpecificOutput": {..., "permissionDecision": "deny", ...}}
  allow with a new input    -> stdout {"hookSpecificOutput": {..., "permissionDecision": "allow",
                                                           "updatedInput": {...}}}
  allow                     -> no output
  stdin not JSON / not an object / no tool_name -> allow, one note on stderr
  bad pyproject config      -> judged on the default config, one note on stderr
  internal error            -> deny only when the call names a guarded file (policy.fallback), else allow
Before judging, a long run.log is bounded in place (autoresearch.logbound), so no reader can flood.
`--self-test` checks the install (interpreter, library, config, every hook script settings.json names) and
exits 0 or 1. This file parses on any Python 3 (no f-strings) so that the version check can run.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, ".claude", "lib"))
TOO_OLD_RULE = "python-too-old"


def note(text):
    sys.stderr.write(("pre_tool_use hook: " + text + "\n")[:1000])


def interpreter_problem():
    """'' or one line saying this python3 is too old to judge calls (autoresearch.interpreter)."""
    from autoresearch import interpreter

    return interpreter.too_old()


def load_config():
    from autoresearch import policy

    try:
        return policy.load_config(ROOT)  # config.load(), cached only while the sandbox walls the cache
    except Exception as exc:  # noqa: BLE001 - config.ConfigError and friends
        note(str(exc) + "; judging with the default config")
        from autoresearch import config

        return config.Config(root=ROOT)


def reply(out):
    import json

    return json.dumps({"hookSpecificOutput": dict(hookEventName="PreToolUse", **out)})


def answer(decision):
    if decision.allowed and decision.updated_input is None:
        return ""
    if not decision.allowed:
        return reply({"permissionDecision": "deny", "permissionDecisionReason": decision.reason})
    out = {"permissionDecision": "allow", "updatedInput": decision.updated_input}
    if decision.reason:
        out["permissionDecisionReason"] = decision.reason
    return reply(out)


def judge(raw):
    import json

    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        note("stdin is not JSON (" + exc.__class__.__name__ + "); allowing the call")
        return ""
    if not isinstance(payload, dict) or not isinstance(payload.get("tool_name"), str):
        note("stdin has no tool_name; allowing the call")
        return ""
    from autoresearch import policy

    cfg = load_config()
    try:  # a long run.log, however it was written, is cut before any call could read it (logbound.py)
        from autoresearch import logbound

        logbound.bound_run_log(cfg)
    except Exception as exc:  # noqa: BLE001 - never in the way of the verdict
        note("could not bound run.log: " + exc.__class__.__name__ + ": " + str(exc))
    try:
        decision = policy.evaluate(payload, cfg)
    except Exception as exc:  # noqa: BLE001 - judged again by the name check below
        note("policy error " + exc.__class__.__name__ + ": " + str(exc))
        decision = policy.fallback(payload, cfg, exc.__class__.__name__)
    return answer(decision)


def hook_commands():
    """(event, command) for every hook handler in .claude/settings.json."""
    import json

    with open(os.path.join(ROOT, ".claude", "settings.json"), encoding="utf-8") as fh:
        settings = json.load(fh)
    for event, groups in settings.get("hooks", {}).items():
        for group in groups:
            for hook in group.get("hooks", []):
                yield event, hook.get("command", "")


def settings_interpreter_problems(commands):
    """The interpreter each hook command names, as Claude Code's PATH finds it, must be new enough."""
    import shutil
    import subprocess

    from autoresearch import interpreter

    problems = []
    for name in sorted({command.split()[0] for _, command in commands if command}):
        exe = shutil.which(name)
        if exe is None:
            problems.append(name + " is not on PATH: every hook would fail open (exit 127)")
            continue
        probe = [exe, "-I", "-S", "-c", "import sys; print(*sys.version_info[:3])"]
        try:
            version = subprocess.run(probe, capture_output=True, timeout=30, check=True).stdout.split()
            too_old = interpreter.too_old([int(part) for part in version], exe)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            too_old = name + " (" + exe + ") does not run: " + exc.__class__.__name__
        if too_old:
            problems.append("hook interpreter: " + too_old)
    return problems


def self_test():
    """Check the install the way Claude Code will use it; print one line per check."""
    problems = []
    try:
        too_old = interpreter_problem()
    except Exception as exc:  # noqa: BLE001
        too_old = "cannot check the interpreter: " + exc.__class__.__name__ + ": " + str(exc)
    if too_old:
        problems.append(too_old)
    try:
        commands = list(hook_commands())
        for event, command in commands:
            rel = command.split('"$CLAUDE_PROJECT_DIR"/', 1)[-1].split()[0] if command else ""
            if not rel or not os.path.isfile(os.path.join(ROOT, rel)):
                problems.append(event + ": hook script missing for " + repr(command))
        if not too_old:
            problems += settings_interpreter_problems(commands)
    except (OSError, ValueError, AttributeError, IndexError) as exc:
        problems.append(".claude/settings.json unreadable: " + str(exc))
    try:
        from autoresearch import policy

        cfg = load_config()
        probes = [
            ({"command": "cat " + cfg.log_file}, False),
            ({"command": "tail -n " + str(cfg.tail_lines) + " " + cfg.log_file}, True),
        ]
        for tool_input, allowed in probes:
            payload = {"tool_name": "Bash", "tool_input": tool_input, "cwd": ROOT}
            if policy.evaluate(payload, cfg).allowed != allowed:
                problems.append("policy gave the wrong verdict on " + repr(tool_input["command"]))
    except Exception as exc:  # noqa: BLE001
        problems.append("guard library broken: " + exc.__class__.__name__ + ": " + str(exc))
    for line in problems:
        print("FAIL " + line)
    print("self-test: ok" if not problems else "self-test: " + str(len(problems)) + " problem(s)")
    return 1 if problems else 0


def main(argv):
    if "--self-test" in argv[1:]:
        return self_test()
    if argv[1:]:
        print(__doc__)
        return 0
    try:
        raw = sys.stdin.buffer.read()  # read even when unused: the client must not hit a closed pipe
        too_old = interpreter_problem()
        if too_old:  # the policy cannot be trusted here: fail closed, whatever the call
            import json

            reason = TOO_OLD_RULE + ": " + too_old
            out = json.dumps(
                {
                    "hookSpecificOutput": {
                        "hookEventName": "PreToolUse",
                        "permissionDecision": "deny",
                        "permissionDecisionReason": reason,
                    }
                }
            )
        else:
            out = judge(raw)
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        note(exc.__class__.__name__ + ": " + str(exc) + "; allowing the call")
        out = ""
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except BaseException:  # noqa: BLE001
        code = 0
    sys.exit(code)
