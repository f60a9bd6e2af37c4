"""The one `jezgro` command. Each command lives in its module, which declares it with add_parser(sub):
its subparser, its options and set_defaults(func=...), the function that runs it.

Every failure reaches the user as one line `jezgro CMD: what is wrong` and a non-zero exit (errors.py);
a traceback only with `jezgro --debug CMD ...`."""
from __future__ import annotations

import argparse
import sys

from . import (bench, board_cmds, bridge_cmd, can_cmd, csms, doctor, ev, exi_cmd, firmware, fuzz_cmd, grid, logs,
               msgs_cmd, pll_replay, provision, services_table, sim, soak, status, target)
from .errors import ToolError, UserError

# in `jezgro --help` order
COMMAND_MODULES = (services_table, sim, provision, status, logs, target, bench, exi_cmd, grid, pll_replay, csms, ev,
                   msgs_cmd, can_cmd, bridge_cmd, fuzz_cmd, firmware, board_cmds, doctor, soak)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `jezgro sim: argument --seconds: invalid float value: 'x'`
    instead of the usage block (which --help shows)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="jezgro", description="JEZGRO-GW host tools")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of a failure")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    for m in COMMAND_MODULES:
        m.add_parser(sub)
    return p


def _say(cmd: str, message: str) -> None:
    message = message.strip()
    prefix = f"jezgro {cmd}: "
    # messages raised by the command modules may already carry the prefix
    if message.startswith(prefix) or message.startswith("jezgro:"):
        prefix = ""
    print(prefix + message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a, extra = p.parse_known_args(argv)
    if extra:  # reported by the command's own parser, so that the message names the command
        sub = next(x for x in p._actions if isinstance(x, argparse._SubParsersAction))
        sub.choices[a.cmd].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return a.func(a)
    except (UserError, ToolError) as e:
        if a.debug:
            raise
        _say(a.cmd, str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _say(a.cmd, "interrupted")
        return 130
    except OSError as e:
        # a file the user named (missing, unreadable, a directory) or the network (refused, unreachable)
        if a.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        _say(a.cmd, f"{where}{e.strerror or e}")
        return 2 if e.filename else 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, details with --debug
        if a.debug:
            raise
        _say(a.cmd, f"internal error: {type(e).__name__}: {e} (jezgro --debug {a.cmd} ... shows the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
