"""`spinegui experiment`: a case study over protocols x strategies x models (the results panel will
call the same job)."""

from __future__ import annotations

import os
from pathlib import Path

from spinegui.core.errors import InputError

CASES_TEXT = """cases (--case):
  1       the preprint's: No finding vs Disc space narrowing vs Vertebral collapse
  2       No finding vs Spondylolysthesis vs Foraminal stenosis: two other rare lesions (257 and 271
          VinDr training images), both defined by alignment (a slipped body, a narrowed foramen), so
          case 1's question is asked again on lesions that rotation and shear may not leave intact
  3       No finding vs Osteophytes vs Surgical implant: a control, the commonest lesion and the most
          conspicuous one (metal); augmentation should help little, so a large gain under the paper
          protocol points at leakage, not learning
  binary  No finding vs Abnormal (any lesion), the VinDr paper's normal/abnormal task

protocols: safe splits the official train split by study (stratified) into training and validation
folds and makes every synthetic image from the training fold only; paper is the preprint's leaky
procedure (augment the whole pool, then split images at random). Both test on the official test split.
Strategies: none, basic (geometric, preset basic), gan (WGAN-GP samples), hybrid (half GAN samples,
half geometric copies with preset hybrid-geometric)."""


def add_parsers(sub) -> None:
    import argparse

    from spinegui.jobs.slurm import SLURM
    from spinegui.train.experiment_config import EXPERIMENT

    # The options default to None ("not given"); experiment_config checks every range again (the
    # config.toml of a resumed run included).

    e = sub.add_parser("experiment", help="run a case study: protocols x strategies x models, with test "
                                          "metrics and compute cost",
                       description="Plans every protocol x strategy (the per-class table is printed first), "
                                   "then trains in a job process with a progress bar (Ctrl+C cancels after a "
                                   "checkpoint; --resume goes on). Writes RUN/results.json, results.csv, "
                                   "manifest.csv, compute.json.",
                       epilog=CASES_TEXT, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("root", help="VinDr-SpineXR dataset folder")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", help="1, 2, 3 or binary (see below)")
    which.add_argument("--classes", help='comma-separated, e.g. "No finding,Osteophytes"; '
                                         '"No finding,Abnormal" is the binary task')
    e.add_argument("--protocol", choices=("safe", "paper", "both"), default="both",
                   help="safe, paper or both (default: both)")
    EXPERIMENT.add_arguments(e)   # every setting, its range checked while parsing
    SLURM.add_arguments(e)        # --slurm-partition, --slurm-gpus-per-task, --slurm-time, ... (--executor slurm)
    e.add_argument("--weights", action="append", default=[], metavar="MODEL=FILE",
                   help="local ImageNet weights for a model (.safetensors or .pth); repeatable")
    e.add_argument("--workspace", help="workspace folder (default: the dataset's usual one)")
    e.add_argument("--out", required=True, help="experiment folder to create")
    e.add_argument("--plan-only", action="store_true", help="print the per-class table and stop")
    again = e.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="go on with the experiment in --out (its own "
                                                             "settings; the ones given here are ignored)")
    again.add_argument("--overwrite", action="store_true", help="delete the experiment in --out and start again")
    e.set_defaults(handler=cmd_experiment)


def experiment_values(args) -> dict:
    from spinegui.train.experiment_config import DEFAULTS, EXPERIMENT
    from spinegui.train.experiment_launch import local_weights

    root = Path(args.root).expanduser().resolve()
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    weights = local_weights(args.weights)
    given = EXPERIMENT.from_args(args)
    values = {"root": str(root), "case": args.case or "", "classes": (args.classes or "").split(","),
              **{p.name: given.get(p.name, DEFAULTS[p.name]) for p in EXPERIMENT if p.cli},
              "protocols": ["safe", "paper"] if args.protocol == "both" else [args.protocol], "weights": weights}
    if args.workspace:
        values["workspace"] = str(Path(args.workspace).expanduser().resolve())
    if values["executor"] == "slurm":
        from spinegui.jobs.slurm import SLURM

        values.update({**SLURM.defaults(), **SLURM.from_args(args)})
    return values


def _print_results(out: Path) -> None:
    from spinegui.core.results.experiment_folder import read_results
    from spinegui.train.experiment_config import format_results

    try:
        doc = read_results(out)
    except InputError:
        return   # a run that wrote no results has said why already
    print(format_results(doc.get("runs", [])))
    for gan in doc.get("gans", []):
        if gan.get("gate") == "fail":
            print(f"GAN ({gan['protocol']}) for {gan['class']} FAILED the quality gate: {'; '.join(gan['reasons'])} "
                  f"(samples: {out / gan['samples']}); the rows that use it are marked gate: fail")
    if doc.get("gan_gate") == "off" and doc.get("gans"):
        print("GAN quality gate off: the GAN samples were not checked")
    print(f"results: {out / 'results.csv'}, {out / 'results.json'}; manifest: {out / 'manifest.csv'}")


def cmd_experiment(args) -> int:
    from spinegui.cli.jobs import require_device, run_foreground
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.runner import check_new_run

    out = Path(args.out).expanduser().resolve()
    if args.resume and (rf.is_run_dir(out) or (out / rf.CONFIG).exists()):
        if rf.read_config(out).get("kind") != "experiment":
            raise InputError(out, "is not an experiment run")
        if rf.refresh_status(out)["state"] == "done":
            print(f"{out}: done already")
            _print_results(out)
            return 0
        if rf.read_config(out).get("executor") == "slurm":
            from spinegui.cli.jobs import submit_experiment

            if _under_torchrun():
                raise InputError(None, "--executor slurm does not run under torchrun: run it once, without torchrun")

            return submit_experiment(out, resume=True)
        if _under_torchrun():
            return _torchrun(out, None, resume=True)
        rc = run_foreground(None, None, out, resume=True)
        if rc == 0:
            _print_results(out)
        return rc
    require_device(args.device)   # before any folder is written (issue 14, defect 10)
    if (args.executor or "local") == "slurm":
        from spinegui.jobs.slurm import require_slurm

        if _under_torchrun():
            raise InputError(None, "--executor slurm does not run under torchrun: run it once, without torchrun")

        require_slurm()           # one line when there is no SLURM to submit to, before anything is written
    root = Path(args.root).expanduser().resolve()
    # The output-folder rule (spinegui/core/outdir.py), before the planning: nothing is deleted here.
    check_new_run("experiment", out, overwrite=args.overwrite, dataset=root,
                  taken="an experiment is already there; pass --resume to go on with it or --overwrite to start again")

    from spinegui.train.experiment_launch import plan_experiment

    values = experiment_values(args)
    planned = plan_experiment(values)
    cfg, selection = planned.cfg, planned.selection
    if int(os.environ.get("RANK", "0")) == 0:             # under torchrun, said once
        print(f"classes: {', '.join(cfg['classes'])}")     # (plan_case refused an empty fold, by name)
        for reason, n in selection.left_out.items():
            print(f"left out {n} images: {reason}")
    if args.plan_only:
        print(planned.table())
        return 0
    # a run prints the table once, from the job's log (relayed below), after the cache is filled
    values["classes"] = cfg["classes"]
    if cfg["executor"] == "slurm":
        from spinegui.cli.jobs import submit_experiment

        return submit_experiment(out, {**values, "kind": "experiment"}, overwrite=args.overwrite)
    if _under_torchrun():
        return _torchrun(out, {**values, "kind": "experiment"}, overwrite=args.overwrite)
    rc = run_foreground("experiment", {**values, "kind": "experiment"}, out, overwrite=args.overwrite)
    if rc == 0:
        _print_results(out)
    return rc


def _under_torchrun() -> bool:
    """torchkit.distributed.under_torchrun without importing torch (the other paths never need it)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _torchrun(out: Path, config: dict | None, *, resume: bool = False, overwrite: bool = False) -> int:
    """Under torchrun (as cmd_train_gan): every rank runs the job in its own process and trains each
    classifier (and GAN) data-parallel; rank 0 alone writes the run folder. Exits with rank 0's code."""
    import os
    import sys

    from spinegui.cli.jobs import require_device
    from spinegui.gan.job import pick_device
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.inline import run_inline
    from spinegui.jobs.runner import seal_run
    from spinegui.torchkit import distributed as D

    cfg = config or rf.read_config(out)
    if int(cfg.get("parallel") or 0) > 1:
        raise InputError(out, "--parallel does not combine with torchrun: the ranks share each run, one at a time")
    device = cfg.get("device") or "auto"
    require_device(device, out)
    # The ranks meet here, before rank 0 writes anything: the others read the run folder once it is ready.
    dist = D.setup(pick_device(device, D.local_rank()))
    rc = run_inline("experiment", config, out, resume=resume, overwrite=overwrite, sync=lambda: D.barrier(dist))
    if dist.is_main:
        seal_run(out)
        if rc == 0:
            _print_results(out)
    if rc in (0, 130):   # every rank has left the job: leave together (a rank that goes first aborts gloo)
        D.barrier(dist)
        D.shutdown(dist)
    # as cmd_train_gan: gloo's threads can abort the interpreter's finalization after a clean run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)

