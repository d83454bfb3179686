"""`spinegui reader-study new|score`: a blinded real-vs-synthetic reader study (the app's "Reader study"
mode reads and writes the same folder through spinegui.core.reader_study)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path


def add_parsers(sub) -> None:
    from spinegui.cli.common import Parser
    from spinegui.core.argtypes import SEED_MAX, number

    rs = sub.add_parser("reader-study", help="make and score a blinded real-vs-synthetic reader study",
                        description="A visual Turing test: readers judge each image real or synthetic; "
                                    "the truth stays in STUDY/key.csv until `score`.",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = rs.add_subparsers(dest="reader_study_command", metavar="{new,score}", parser_class=Parser,
                             required=True, help="new: make a study; score: score the readers' answers")
    n = cmds.add_parser("new", help="pick and render real and synthetic images as neutral items")
    n.add_argument("--real", type=Path, required=True, metavar="DATASET", help="VinDr-SpineXR dataset of real images")
    n.add_argument("--synthetic", type=Path, required=True, metavar="DIR",
                   help="output of `spinegui sample` (DICOM dataset or PNGs)")
    n.add_argument("--classes", help='comma-separated classes, e.g. "Osteophytes,No finding" (default: all)')
    n.add_argument("--n-real", type=number(int, 1), default=None, metavar="N",
                   help="real images (default: --n-synthetic, else as many as both origins have)")
    n.add_argument("--n-synthetic", type=number(int, 1), default=None, metavar="M",
                   help="synthetic images (default: --n-real, else as many as both origins have)")
    n.add_argument("--seed", type=number(int, 0, SEED_MAX), default=0, metavar="S",
                   help="the picks and the item order follow from it (default 0)")
    n.add_argument("--size", type=number(int, 32, 4096), default=512, metavar="PX",
                   help="side of the square images readers see, in pixels (default 512)")
    n.add_argument("--out", type=Path, required=True, metavar="STUDY", help="new or empty folder to write")
    n.add_argument("--overwrite", action="store_true", help="replace an earlier `reader-study new` output "
                                                             "(never one that readers have answered in)")
    s = cmds.add_parser("score", help="score the answers: accuracy, AUROC, binomial p, kappa; writes scores.json")
    s.add_argument("study", type=Path, metavar="STUDY", help="the study folder")
    rs.set_defaults(handler=cmd_reader_study)
    rs.epilog = _epilog(n, s)


def _epilog(*parsers) -> str:
    """Each subcommand's own help, indented (a code block in docs/CLI.md), at a fixed width so that the
    page does not depend on the terminal that made it."""
    parts = []
    for p in parsers:
        p.formatter_class = functools.partial(argparse.HelpFormatter, width=96)
        parts.append("\n".join("    " + line if line else "" for line in p.format_help().rstrip().splitlines()))
        p.formatter_class = argparse.HelpFormatter
    return "The two commands (`spinegui reader-study new --help` prints the first):\n\n" + "\n\n".join(parts)


def cmd_reader_study(args) -> int:
    return {"new": cmd_new, "score": cmd_score}[args.reader_study_command](args)


def cmd_new(args) -> int:
    from spinegui.cli.common import CountBar
    from spinegui.core.reader_study import new_study

    classes = None if args.classes is None else args.classes.split(",")
    study = new_study(args.real, args.synthetic, args.out, classes=classes, n_real=args.n_real,
                      n_synthetic=args.n_synthetic, seed=args.seed, size=args.size, overwrite=args.overwrite,
                      progress=CountBar("render"))
    print(f"wrote a reader study of {len(study.items)} items ({', '.join(study.classes)}) to {study.folder}; "
          f"rendered at {study.detail} px, shown at {study.size} px; the truth is in {study.folder / 'key.csv'}")
    return 0


def _num(value, fmt: str = ".3f") -> str:
    return "-" if value is None else format(round(value, 12) + 0.0, fmt)   # + 0.0: no "-0.000"


def cmd_score(args) -> int:
    from spinegui.core.reader_study import score_study
    from spinegui.core.reader_study.scoring import SCORES_FILE

    sc = score_study(args.study)
    print(f"{'reader':20} {'n':>5} {'accuracy':>9} {'sens':>6} {'spec':>6} {'AUROC':>6} {'p (vs 1/2)':>11}")
    for name, r in sc["readers"].items():
        print(f"{name[:20]:20} {r['n']:>5} {_num(r['accuracy']):>9} {_num(r['sensitivity']):>6} "
              f"{_num(r['specificity']):>6} {_num(r['auroc']):>6} {_num(r['p_value'], '.3g'):>11}")
    k = sc["kappa"]
    if k["method"]:
        who = {"cohen": "Cohen's", "fleiss": "Fleiss'"}[k["method"]]
        print(f"agreement: {who} kappa {_num(k['value'])} on {k['n_items']} items answered by all")
    else:
        print("agreement: needs two readers with answers on the same items")
    print(f"\n{'class':24} {'items':>5} {'answers':>7} {'accuracy':>9}")
    for cls, c in sc["per_class"].items():
        print(f"{cls[:24]:24} {c['items']:>5} {c['n']:>7} {_num(c['accuracy']):>9}")
    if sc["most_mistaken"]:
        print("\nmost often judged wrongly:")
        for m in sc["most_mistaken"][:5]:
            print(f"  {m['item']} ({m['origin']}, {m['class']}): wrong {m['wrong']} of {m['n']}")
    print(f"\nwrote {Path(args.study) / SCORES_FILE}")
    return 0
