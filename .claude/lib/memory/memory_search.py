#!/usr/bin/env python3
"""The memory CLI the skill runs (`uv run .claude/lib/memory/memory_search.py --help`); code in cli.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # .claude/lib: `memory` and `autoresearch`

from memory.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
