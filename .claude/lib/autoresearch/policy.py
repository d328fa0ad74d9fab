"""The guard policy: one verdict per tool call, shared by the PreToolUse hook and the scripts.

    decision = policy.evaluate(payload, cfg)   # payload = the JSON Claude Code sends to PreToolUse

Three steps, three files: `reader.read_call` turns the call into typed effects (`effects.py`), and
`rules.judge` asks the seven rules (`rules.py`, the file to audit) whether any effect breaks the protocol.
Every guarded name comes from the config (`cfg`); a rule listed in `cfg.disabled_rules` never denies.
Stdlib only.
"""

from __future__ import annotations

from . import reader, rules

# The hook's config cache and the wall it relies on live in configcache.py (the PostToolUse hook reads them
# too, without this module's parser); the names stay importable from here.
from .configcache import (  # noqa: F401
    _CACHED_FIELDS,
    CACHE_FILE,
    KEEPER_HOOK,
    WALL_FLAGS,
    CachedConfig,
    cache_is_walled,
    cache_values,
    keeper_runs,
    load_config,
    walled_paths,
)
from .effects import CAN_ANY, LongRun, Opaque, Targets, Train

BASH_MAX_TIMEOUT_MS = 600_000  # the Bash tool's ceiling; the default 2 minutes kills a 5-minute run
FILE_TOOLS = reader.FILE_TOOLS
SHELL_TOOLS = reader.SHELL_TOOLS


class Decision:
    """The verdict: `allowed`, the rule id (or None), a one-sentence reason, and an optional new input."""

    __slots__ = ("allowed", "rule", "reason", "updated_input")

    def __init__(self, allowed=True, rule=None, reason="", updated_input=None):
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
        self.updated_input = updated_input

    def __repr__(self):
        state = "allow" if self.allowed else "deny"
        return f"Decision({state}, {self.rule!r}, {self.reason!r})"


ALLOW = Decision()


def evaluate(payload: dict, cfg) -> Decision:
    """The verdict for one PreToolUse payload. Never raises on odd payloads; unknown tools are allowed."""
    if not isinstance(payload, dict):
        return ALLOW
    tool = payload.get("tool_name")
    tool_input = payload.get("tool_input")
    if not isinstance(tool, str) or not isinstance(tool_input, dict):
        return ALLOW
    root = str(cfg.root)
    t = Targets(cfg, walled_paths(root), kept=keeper_runs(root))
    effects = reader.read_call(payload, t)
    denial = rules.judge(effects, t, cfg)
    if denial is not None:
        return Decision(False, *denial)
    if (
        tool == "Bash"
        and cfg.rule_enabled("redirect-training")
        and any(isinstance(e, (Train, LongRun)) for e in effects)
    ):
        timeout = reader._as_int(tool_input.get("timeout"))
        if timeout is None or timeout < BASH_MAX_TIMEOUT_MS:
            return Decision(
                True,
                "redirect-training",
                f"redirect-training: gave this run the Bash timeout of {BASH_MAX_TIMEOUT_MS} ms it lacked.",
                {**tool_input, "timeout": BASH_MAX_TIMEOUT_MS},
            )
    return ALLOW


def fallback(payload, cfg, error: str) -> Decision:
    """Used when `evaluate` itself failed: deny only if the call names a guarded file."""
    try:
        text = repr(payload.get("tool_input")) if isinstance(payload, dict) else repr(payload)
        t = Targets(cfg)
        named = [
            Opaque(target, label, f"the guard failed: {error}", True, CAN_ANY)
            for needle, target, label in t.needles()
            if needle in text
        ]
        denial = rules.judge(named, t, cfg)
        if denial is not None:
            rule_id = denial[0]
            label = next(e.label for e in named if rules.RULES[rule_id]([e], t))
            return Decision(
                False,
                rule_id,
                f"{rule_id}: the guard failed ({error}) on a call that names {label}; "
                f"retry with a plainer command.",
            )
    except Exception:  # noqa: BLE001 - the fallback must not fail either
        pass
    return ALLOW
