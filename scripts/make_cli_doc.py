"""Write docs/CLI.md, the reference of every command and option, from the parser itself.

    .venv/bin/python scripts/make_cli_doc.py            # rewrite docs/CLI.md
    .venv/bin/python scripts/make_cli_doc.py --check    # exit 1 if docs/CLI.md is out of date

tests/unit/test_cli_doc.py runs the check, so the page cannot drift from the code.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "CLI.md"
WIDTH = 100   # fixed, so that the page does not depend on the terminal that made it

HEAD = """# Command reference

Every `spinegui` command and option, generated from the parser by `scripts/make_cli_doc.py`
(`tests/unit/test_cli_doc.py` fails when this page and the code disagree). `spinegui COMMAND --help`
prints the same. Square brackets in a usage line mark what is optional.
"""


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (p, helps.get(name, "")) for name, p in action.choices.items()}
    return {}


def option_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str, str]]:
    """(argument, required?, default, help) for every argument but --help."""
    rows = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        if a.option_strings:
            name = ", ".join(a.option_strings)
            if a.nargs != 0:
                meta = a.metavar or a.dest.upper()
                name += " " + (" ".join(meta) if isinstance(meta, tuple) else meta)
        else:
            name = a.metavar or a.dest.upper()
        required = "required" if a.required or not a.option_strings else ""
        empty = a.default is None or a.default is False or a.default == [] or a.default == argparse.SUPPRESS
        default = "" if empty or a.nargs == 0 else f"`{a.default}`"
        text = (a.help or "").replace("%%", "%").replace("|", "\\|").replace("\n", " ")
        if a.choices is not None and not isinstance(a.choices, range):
            text += (" " if text else "") + "(one of: " + ", ".join(map(str, a.choices)) + ")"
        rows.append((f"`{name}`", required, default, text))
    return rows


def render(parser: argparse.ArgumentParser) -> str:
    out = [HEAD]
    sections = [("spinegui", parser, parser.description or "")] + [
        (f"spinegui {name}", p, help_) for name, (p, help_) in subcommands(parser).items()]
    for title, p, help_ in sections:
        p.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
        lines = p.format_usage().strip().removeprefix("usage: ").splitlines()
        usage = "\n".join([lines[0]] + ["    " + line.strip() for line in lines[1:]])
        out += [f"## {title}", "", help_, "", "```", usage, "```", ""]
        if p.epilog:
            out += [p.epilog.strip(), ""]
        rows = option_rows(p)
        if rows:
            out += ["| argument | | default | what it does |", "|---|---|---|---|"]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from spinegui.cli.entry import build_parser

    text = render(build_parser())
    if "--check" in argv:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run scripts/make_cli_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
