"""The ``hmipv6`` command line."""

from __future__ import annotations

import argparse
import sys

from hmipv6 import __version__, cli_simulate, cli_sweep, cli_testbed, decode_cmd


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hmipv6", description="Hierarchical Mobile IPv6 (RFC 4140)")
    p.add_argument("--version", action="version", version=f"hmipv6 {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    cli_simulate.register(sub)
    decode_cmd.register(sub)
    cli_testbed.register(sub)
    cli_sweep.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
