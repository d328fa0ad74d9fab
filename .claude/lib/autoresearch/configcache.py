"""The guard hooks' config cache, and the sandbox wall it relies on (read from .claude/settings.json).

Stdlib only and light at import: the PreToolUse hook (through policy.py) and the PostToolUse hook (through
dispatch.py, on every call) read the config through `load_config`.
"""

from __future__ import annotations

import os

# The hook's config cache. config.load() imports tomllib and pathlib: about 15 ms, which takes the hook's
# p95 from ~25 ms to ~60 ms on the 2-core box (bench/hook_latency.py; the target is 50 ms). So the parsed
# fields are kept as JSON beside the bytecode, keyed on the stat of pyproject.toml and config.py. A cache is
# only as safe as whoever can write it: it is read and written only while the shipped sandbox stops the
# agent's shell from writing it (`cache_is_walled`). Without that wall every call reads pyproject.toml.

CACHE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__", "guard-config.json")
_CACHED_FIELDS = (
    "editable_files",
    "log_file",
    "results_file",
    "protected_files",
    "guard_paths",
    "state_dir",
    "memory_dir",
    "train_script",
    "metric",
    "tail_lines",
    "disabled_rules",
    "jobs_backend",  # the hooks start a Ray night's held jobs (dispatch.py)
)
# What .claude/settings.json must say, and no settings.local.json may undo, for the cache to be walled.
WALL_FLAGS = {"enabled": True, "failIfUnavailable": True, "allowUnsandboxedCommands": False}


class CachedConfig:
    """The Config fields the policy reads, as config.load() returned them when the cache was written."""

    def __init__(self, root, values):
        self.root = root
        for name in _CACHED_FIELDS:
            value = values[name]
            setattr(self, name, tuple(value) if isinstance(value, list) else value)
        self._untracked = tuple(values["untracked_data"])
        self.time_budget_env = values["time_budget_env"]

    def untracked_data(self):
        return self._untracked

    def rule_enabled(self, rule_id):
        return rule_id not in self.disabled_rules


def _settings(path):
    """One settings file as a dict: {} when absent, None when unreadable."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _settings_sandbox(path):
    """The `sandbox` object of one settings file: {} when it or the key is absent, None when unreadable."""
    data = _settings(path)
    sandbox = data.get("sandbox", {}) if isinstance(data, dict) else None
    return sandbox if isinstance(sandbox, dict) else None


KEEPER_HOOK = ".claude/hooks/post_tool_use.py"


def keeper_runs(root):
    """Does settings.json run the keeper after every call, failed ones included (docs/guards.md)?"""
    hooks = (_settings(os.path.join(root, ".claude", "settings.json")) or {}).get("hooks")
    if not isinstance(hooks, dict):
        return False
    for event in ("PostToolUse", "PostToolUseFailure"):
        groups = hooks.get(event) if isinstance(hooks.get(event), list) else []
        commands = [h.get("command", "") for g in groups if isinstance(g, dict) for h in g.get("hooks") or []
                    if isinstance(h, dict)]  # fmt: skip
        if not any(isinstance(c, str) and KEEPER_HOOK in c for c in commands):
            return False
    return True


def walled_paths(root):
    """The project paths the shipped sandbox makes read-only for every Bash command: settings.json's
    `sandbox.filesystem.denyWrite` entries, while the sandbox is on, cannot be skipped, and
    settings.local.json undoes none of it. [] otherwise."""
    shared = _settings_sandbox(os.path.join(root, ".claude", "settings.json"))
    local = _settings_sandbox(os.path.join(root, ".claude", "settings.local.json"))
    if not shared or local is None:
        return []
    for key, wanted in WALL_FLAGS.items():
        if shared.get(key) is not wanted or local.get(key, wanted) is not wanted:
            return []
    filesystem = shared.get("filesystem")
    deny = filesystem.get("denyWrite") if isinstance(filesystem, dict) else None
    entries = [
        e for e in (deny if isinstance(deny, list) else ()) if isinstance(e, str) and e.startswith("./")
    ]
    return [os.path.realpath(os.path.join(root, e[2:])) for e in entries]


def cache_is_walled(root, cache_file=None):
    """True when the sandbox walls off the config cache's folder (walled_paths)."""
    cache_dir = os.path.dirname(os.path.realpath(cache_file or CACHE_FILE))
    return any(cache_dir == w or cache_dir.startswith(w.rstrip(os.sep) + os.sep) for w in walled_paths(root))


def cache_values(cfg):
    """What the cache keeps of a Config: the fields CachedConfig gives back."""
    from . import config

    values = {name: getattr(cfg, name) for name in _CACHED_FIELDS}
    values["untracked_data"] = list(cfg.untracked_data())
    values["time_budget_env"] = config.TIME_BUDGET_ENV
    return values


def _cache_key(root):
    key = []
    for path in (os.path.join(root, "pyproject.toml"), os.path.join(os.path.dirname(__file__), "config.py")):
        try:
            st = os.stat(path)
            key.append([st.st_mtime_ns, st.st_size, st.st_ino])
        except (OSError, ValueError):
            key.append(None)
    return key


def load_config(root: str):
    """config.load(root); answered from the cache while it is walled and neither file it depends on changed.

    Raises config.ConfigError like config.load(); a broken or stale cache is simply rebuilt.
    """
    import json

    root = os.path.realpath(root)
    walled = cache_is_walled(root)
    key = _cache_key(root)
    if walled:
        try:
            with open(CACHE_FILE, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("root") == root and data.get("key") == key:
                return CachedConfig(root, data["values"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    from . import config

    cfg = config.load(root)
    if walled:
        from . import fsutil  # only on a cache miss

        try:
            text = json.dumps({"root": root, "key": key, "values": cache_values(cfg)})
            fsutil.atomic_write(CACHE_FILE, text.encode("utf-8"))
        except (OSError, TypeError, ValueError):
            pass  # no cache this time; the next call reads the config again
    return cfg
