"""The one `jezgro` command. Each command lives in its module, which declares it with add_parser(sub):
its subparser, its options and set_defaults(func=...), the function that runs it."""
from __future__ import annotations

import argparse
import sys

from . import bench, bridge_cmd, can_cmd, csms, ev, exi_cmd, grid, logs, msgs_cmd, pll_replay, services_table, sim, target

# in `jezgro --help` order
COMMAND_MODULES = (services_table, sim, logs, target, bench, exi_cmd, grid, pll_replay, csms, ev, msgs_cmd, can_cmd,
                   bridge_cmd)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jezgro", description="JEZGRO-GW host tools")
    sub = p.add_subparsers(dest="cmd", required=True)
    for m in COMMAND_MODULES:
        m.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
