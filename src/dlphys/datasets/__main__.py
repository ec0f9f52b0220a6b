"""Command line: ``python -m dlphys.datasets generate NAME|all [--fast]`` and ``... list``."""

from __future__ import annotations

import argparse
import os
import sys
import time

from dlphys import config
from dlphys.datasets import NAMES, get
from dlphys.datasets._download import DataUnavailableError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlphys.datasets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="build (or check) the cached default datasets")
    gen.add_argument("name", help=f"'all' or one of: {', '.join(NAMES)}")
    gen.add_argument("--fast", action="store_true", help="the small fast-mode variants (as DLPHYS_FAST=1)")
    gen.add_argument("--refresh", action="store_true", help="rebuild even if a valid cache exists")
    sub.add_parser("list", help="list the datasets")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in NAMES:
            print(f"{name:14s} {(get(name).__doc__ or '').strip().splitlines()[0]}")
        return 0

    names = NAMES if args.name == "all" else (args.name,)
    if args.name != "all" and args.name not in NAMES:
        parser.error(f"unknown dataset {args.name!r}; choose 'all' or one of: {', '.join(NAMES)}")
    if args.fast:
        os.environ[config.FAST_ENV] = "1"
    print(f"data directory: {config.data_dir()}  ({'fast' if config.fast_mode() else 'full'} mode)")
    unavailable = []
    for name in names:
        start = time.perf_counter()
        try:
            get(name).load(refresh=args.refresh)
        except DataUnavailableError as exc:  # real data that can be had neither offline nor online
            unavailable.append(name)
            print(f"{name:14s} NOT AVAILABLE: {exc}")
            continue
        print(f"{name:14s} ready in {time.perf_counter() - start:6.1f} s")
    if unavailable:
        print(f"not available: {', '.join(unavailable)} (see above for how to get them)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
