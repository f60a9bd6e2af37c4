"""The `jezgro` command line: every command declared the same way (its module's add_parser) and listed
in `jezgro --help`."""
from __future__ import annotations

import argparse

from jezgro_host import cli
from conftest import jezgro

COMMANDS = ["services", "sim", "provision", "status", "logs", "check", "build", "deploy", "bench", "exi", "grid-test",
            "pll-replay", "csms", "ev", "msgs", "can", "bridge", "fuzz", "firmware", "flash", "repl", "doctor", "soak"]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_help_lists_every_command():
    r = jezgro("--help")
    assert r.returncode == 0, r.stderr
    assert list(_subcommands()) == COMMANDS
    listed = [ln.split()[0] for ln in r.stdout.split("positional arguments:")[1].splitlines()[2:]
              if ln.startswith("    ") and not ln.startswith("     ")]
    assert listed == COMMANDS, r.stdout


def test_every_command_runs_through_its_func():
    for name, p in _subcommands().items():
        assert callable(p.get_default("func")), name
