"""docs/CLI.md is generated from the parser, and every argument of every command says what it does."""

import argparse
import subprocess
import sys
from pathlib import Path

from spinegui.cli.entry import build_parser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_cli_doc  # noqa: E402


def test_cli_reference_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_cli_doc.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_argument_has_help():
    parser = build_parser()
    missing = []
    for name, (sub, help_) in make_cli_doc.subcommands(parser).items():
        if not help_:
            missing.append(f"{name} (the command itself)")
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help: " + ", ".join(missing)


def test_reference_lists_every_command_and_marks_required_arguments():
    text = make_cli_doc.render(build_parser())
    for name in make_cli_doc.subcommands(build_parser()):
        assert f"## spinegui {name}\n" in text
    # `export --format` is required, `export --overwrite` is not: the table says which is which
    export = text.split("## spinegui export\n")[1].split("## ")[0]
    assert "| `--format FORMAT` | required |" in export
    assert "| `--overwrite` |  |" in export
