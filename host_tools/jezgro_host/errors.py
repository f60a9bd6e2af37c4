"""What a `jezgro` command says when it cannot do its job: one line, never a traceback.

UserError: the input is wrong (a file, a column, a key, a value, a choice): exit 2, as argparse.
ToolError: the input was fine but something it needs failed (the firmware, a peer, a board): exit 1.
cli.main() prints either as `jezgro CMD: message`; any other exception is an internal error, shown the
same way with a hint to re-run with --debug, which shows the traceback.
"""
from __future__ import annotations

import re
from collections.abc import Iterable


class UserError(Exception):
    """Bad input; the message names what is wrong and, where there is a list, the valid choices."""

    exit_code = 2


class ToolError(Exception):
    """A failure outside the user's input (the MicroPython process, a peer, a board)."""

    exit_code = 1


def choices(what: str, value: str, valid: Iterable[str]) -> UserError:
    """`no scenario 'x' (one of: a, b, c)`."""
    return UserError(f"no {what} {value!r} (one of: {', '.join(sorted(valid))})")


# the last line of a MicroPython traceback ("OSError: [Errno 2] ENOENT", "MemoryError: memory allocation
# failed ..."), or a SystemExit message the firmware printed
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|AssertionError)(: .*)?$")


def firmware_message(output: str) -> str:
    """The firmware's own words for why it stopped: the exception of its last traceback, with the file and
    line it was raised in, else its last non-empty line (a SystemExit message), else ''."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if _EXC_LINE.match(lines[i].strip()):
            where = ""
            if i > 0 and lines[i - 1].lstrip().startswith("File "):
                m = re.search(r'File "([^"]+)", line (\d+)', lines[i - 1])
                if m:
                    where = f" (at {m.group(1).rsplit('/', 2)[-2:][-1]}:{m.group(2)})"
            return lines[i].strip() + where
    return lines[-1].strip() if lines else ""
