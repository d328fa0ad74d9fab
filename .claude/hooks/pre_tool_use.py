#!/usr/bin/env python3
"""PreToolUse hook: one guard verdict per tool call, from autoresearch.policy (docs/guards.md).

Run as `python3 -I -S "$CLAUDE_PROJECT_DIR"/.claude/hooks/pre_tool_use.py` with Claude Code's JSON on stdin.
Stdlib only, always exits 0 (exit 2 would block every tool call). Outcomes:
  deny                      -> stdout {"hookSpecificOutput": {..., "permissionDecision": "deny", ...}}
  allow with a new input    -> stdout {"hookSpecificOutput": {..., "permissionDecision": "allow",
                                                           "updatedInput": {...}}}
  allow                     -> no output
  stdin not JSON / not an object / no tool_name -> allow, one note on stderr
  bad pyproject config      -> judged on the default config, one note on stderr
  internal error            -> deny only when the call names a guarded file (policy.fallback), else allow
`--self-test` checks the install (library, config, every hook script settings.json names) and exits 0 or 1.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, ".claude", "lib"))


def note(text):
    sys.stderr.write(f"pre_tool_use hook: {text}\n"[:1000])


def load_config():
    from autoresearch import policy

    try:
        return policy.load_config(ROOT)  # config.load(), cached between calls
    except Exception as exc:  # noqa: BLE001 - config.ConfigError and friends
        note(f"{exc}; judging with the default config")
        from pathlib import Path

        from autoresearch import config

        return config.Config(root=Path(ROOT))


def answer(decision):
    from autoresearch import hookjson

    if decision.allowed and decision.updated_input is None:
        return ""
    out = {"hookEventName": "PreToolUse"}
    if decision.allowed:
        out.update(permissionDecision="allow", updatedInput=decision.updated_input)
        if decision.reason:
            out["permissionDecisionReason"] = decision.reason
    else:
        out.update(permissionDecision="deny", permissionDecisionReason=decision.reason)
    return hookjson.dumps({"hookSpecificOutput": out})


def judge(raw):
    from autoresearch import hookjson  # json without `re`: start-up is most of this hook's cost

    try:
        payload = hookjson.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        note(f"stdin is not JSON ({exc.__class__.__name__}); allowing the call")
        return ""
    if not isinstance(payload, dict) or not isinstance(payload.get("tool_name"), str):
        note("stdin has no tool_name; allowing the call")
        return ""
    from autoresearch import policy

    cfg = load_config()
    try:
        decision = policy.evaluate(payload, cfg)
    except Exception as exc:  # noqa: BLE001 - judged again by the name check below
        note(f"policy error {exc.__class__.__name__}: {exc}")
        decision = policy.fallback(payload, cfg, exc.__class__.__name__)
    return answer(decision)


def self_test():
    """Check the install the way Claude Code will use it; print one line per check."""
    import json

    problems = []
    try:
        with open(os.path.join(ROOT, ".claude", "settings.json"), encoding="utf-8") as fh:
            settings = json.load(fh)
        for event, groups in settings.get("hooks", {}).items():
            for group in groups:
                for hook in group.get("hooks", []):
                    command = hook.get("command", "")
                    rel = command.split('"$CLAUDE_PROJECT_DIR"/', 1)[-1].split()[0] if command else ""
                    if not rel or not os.path.isfile(os.path.join(ROOT, rel)):
                        problems.append(f"{event}: hook script missing for {command!r}")
    except (OSError, ValueError, AttributeError, IndexError) as exc:
        problems.append(f".claude/settings.json unreadable: {exc}")
    try:
        from autoresearch import policy

        cfg = load_config()
        probes = [
            ({"command": f"cat {cfg.log_file}"}, False),
            ({"command": f"tail -n {cfg.tail_lines} {cfg.log_file}"}, True),
        ]
        for tool_input, allowed in probes:
            payload = {"tool_name": "Bash", "tool_input": tool_input, "cwd": ROOT}
            if policy.evaluate(payload, cfg).allowed != allowed:
                problems.append(f"policy gave the wrong verdict on {tool_input['command']!r}")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"guard library broken: {exc.__class__.__name__}: {exc}")
    for line in problems:
        print(f"FAIL {line}")
    print("self-test: ok" if not problems else f"self-test: {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv):
    if "--self-test" in argv[1:]:
        return self_test()
    if argv[1:]:
        print(__doc__)
        return 0
    try:
        out = judge(sys.stdin.buffer.read())
    except BaseException as exc:  # noqa: BLE001 - a hook must never crash or exit 2
        note(f"{exc.__class__.__name__}: {exc}; allowing the call")
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
