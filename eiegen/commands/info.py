"""`eiegen info`: statistics of a compiled program."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("info", help="print a compiled program's statistics")
    p.add_argument("program", type=Path, help="program folder written by `eiegen compile`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.compiler.program import Program
    from eiegen.compiler.stats import format_stats, program_stats

    stats = program_stats(Program.load(args.program))
    print(json.dumps(stats, indent=1, sort_keys=True) if args.json else format_stats(stats))
    return 0
