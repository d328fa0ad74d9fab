"""autoresearch-pack's library: config, guard policy, ledger, runner, loop state.

Modules the hooks import stay stdlib-only; modules used only by scripts/ may import the locked dependencies.
"""
