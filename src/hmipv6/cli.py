"""The ``hmipv6`` command line."""

from __future__ import annotations

import argparse
import sys

from hmipv6 import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hmipv6", description="Hierarchical Mobile IPv6 (RFC 4140)")
    p.add_argument("--version", action="version", version=f"hmipv6 {__version__}")
    p.add_subparsers(dest="command", metavar="COMMAND")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
