"""`eiegen config`: print an architecture config as the JSON that `--config` reads."""

from __future__ import annotations

from .compile import add_config_args, config_from_args


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
    add_config_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from eiegen.boards.catalog import get_board
    from eiegen.cli import CliError

    if args.board and args.config:
        raise CliError("give --board or --config, not both")
    # validated on the way: a bad value is a one-line ConfigError
    cfg = config_from_args(args, get_board(args.board).default_config() if args.board
                           else None)
    changes = [k for k in ("n_pe", "queue_depth") if getattr(args, k) is not None]
    if args.board and changes:
        # a board config is sized to the device: a change may no longer fit it
        print(f"eiegen config: note: changed {', '.join(changes)}; `eiegen build --board "
              f"{args.board}` checks the fit", file=sys.stderr)
    sys.stdout.write(cfg.to_json())
    return 0
