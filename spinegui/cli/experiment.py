"""`spinegui experiment`: a case study over protocols x strategies x models (the results panel will
call the same job)."""

from __future__ import annotations

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
            return _submit(out, resume=True)
        rc = run_foreground(None, None, out, resume=True)
        if rc == 0:
            _print_results(out)
        return rc
    require_device(args.device)   # before any folder is written (issue 14, defect 10)
    if (args.executor or "local") == "slurm":
        from spinegui.jobs.slurm import require_slurm

        require_slurm()           # one line when there is no SLURM to submit to, before anything is written
    root = Path(args.root).expanduser().resolve()
    # The output-folder rule (spinegui/core/outdir.py), before the planning: nothing is deleted here.
    check_new_run("experiment", out, overwrite=args.overwrite, dataset=root,
                  taken="an experiment is already there; pass --resume to go on with it or --overwrite to start again")

    from spinegui.train.experiment_launch import plan_experiment

    values = experiment_values(args)
    planned = plan_experiment(values)
    cfg, selection = planned.cfg, planned.selection
    print(f"classes: {', '.join(cfg['classes'])}")         # (plan_case refused an empty fold, by name)
    for reason, n in selection.left_out.items():
        print(f"left out {n} images: {reason}")
    if args.plan_only:
        print(planned.table())
        return 0
    # a run prints the table once, from the job's log (relayed below), after the cache is filled
    values["classes"] = cfg["classes"]
    if cfg["executor"] == "slurm":
        from spinegui.jobs.runner import prepare

        prepare("experiment", {**values, "kind": "experiment"}, out, resume=False, overwrite=args.overwrite)
        return _submit(out, resume=False)
    rc = run_foreground("experiment", {**values, "kind": "experiment"}, out, overwrite=args.overwrite)
    if rc == 0:
        _print_results(out)
    return rc


def _submit(out: Path, resume: bool) -> int:
    """Submit the experiment's jobs (on resume only what is missing) to SLURM and return: the jobs
    write into `out`; `spinegui jobs`, the Results tab and `spinegui cancel` follow them there."""
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.runner import prepare_resume
    from spinegui.jobs.slurm import require_slurm
    from spinegui.train.experiment_parts import submit_slurm

    require_slurm()
    if resume:
        prepare_resume(out, "experiment")   # refuses one still queued or running
    try:
        ids = submit_slurm(out)
    except BaseException:
        if rf.read_status(out)["state"] == "queued":     # nothing will run it: say so in the folder
            rf.update_status(out, state="failed", ended=rf.utc_now(), message="SLURM submission failed")
        raise
    runs = [n for n in ids if n not in ("prepare", "finish") and not n.startswith("gan-")]
    print(f"submitted {len(ids)} SLURM jobs ({len(runs)} runs): {', '.join(sorted(set(ids.values()), key=int))}")
    print(f"follow: spinegui jobs {out}   cancel: spinegui cancel {out}   results: {out / 'results.json'}")
    return 0
