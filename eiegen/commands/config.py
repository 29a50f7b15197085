"""`eiegen config`: print an architecture config as the JSON that `--config` reads."""

from __future__ import annotations


def register(sub) -> None:
    from eiegen.boards.catalog import board_names

    p = sub.add_parser(
        "config", help="print an architecture config (a board's, or the default) as JSON",
        description="Print every field of an architecture config as the JSON that "
                    "`--config` reads: the default config, or a board's (the one `eiegen "
                    "build --board` uses when given none). Start a config of your own "
                    "from it: eiegen config --board icebreaker > cfg.json.")
    p.add_argument("--board", choices=board_names(),
                   help="the board's default config (default: the built-in default)")
    p.add_argument("--pe", type=int, dest="n_pe", help="number of PEs (overrides)")
    p.add_argument("--queue-depth", type=int, help="activation queue depth (overrides)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from eiegen.arch import ArchConfig
    from eiegen.boards.catalog import get_board

    cfg = get_board(args.board).default_config() if args.board else ArchConfig()
    changes = {k: v for k, v in (("n_pe", args.n_pe), ("queue_depth", args.queue_depth))
               if v is not None}
    if changes:
        cfg = cfg.replace(**changes)  # validated: a bad value is a one-line ConfigError
    if args.board and changes:
        # a board config is sized to the device: a change may no longer fit it
        print(f"eiegen config: note: changed {', '.join(changes)}; `eiegen build --board "
              f"{args.board}` checks the fit", file=sys.stderr)
    sys.stdout.write(cfg.to_json())
    return 0
