"""autoresearch-pack's memory: learnings, issues and decisions as markdown files, with ranked search.

entries.py         the entry format and its lenient parser
store.py           reading, locked atomic adds, the SessionStart digest (stdlib only)
search.py          the FTS5 cache and BM25 ranking, with a pure-Python fallback
cli.py             the CLI; memory_search.py is its entry point:
                   uv run .claude/lib/memory/memory_search.py --help
"""
