"""`spinegui train-gan` and `spinegui sample`: the GAN commands (the panel calls the same code)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spinegui.core.errors import InputError


def add_parsers(sub) -> None:
    from spinegui.core.argtypes import SEED_MAX, number
    from spinegui.gan.settings import GAN_SETTINGS

    t = sub.add_parser("train-gan", help="train a GAN (WGAN-GP, WGAN, DCGAN) on classes of a dataset",
                       description="Trains in a separate process with a progress bar; Ctrl+C cancels "
                                   "after writing a checkpoint (resume with `spinegui resume RUN`). "
                                   "Under torchrun each rank trains a shard; rank 0 writes the run.")
    t.add_argument("root", help="VinDr-SpineXR dataset folder")
    t.add_argument("--classes", required=True, help='comma-separated, e.g. "Vertebral collapse,Osteophytes"')
    t.add_argument("--out", required=True, help="run folder to create")
    t.add_argument("--workspace", help="workspace folder (default: the dataset's usual one)")
    GAN_SETTINGS.add_arguments(t)   # every setting, its range checked while parsing
    t.set_defaults(handler=cmd_train_gan)

    s = sub.add_parser("sample", help="write N synthetic images per class from a GAN run, as a dataset")
    s.add_argument("run", help="GAN run folder")
    s.add_argument("--n", type=number(int, 1), required=True, help="images per class")
    s.add_argument("--class", dest="class_name", help="only this class (default: every class of the run)")
    s.add_argument("--last-epochs", type=number(int, 0), default=0,
                   help="harvest from the generator snapshots of the last K epochs (default, 0: the last checkpoint)")
    s.add_argument("--seed", type=number(int, 0, SEED_MAX), default=0,
                   help="noise seed: the same seed gives the same images (default 0)")
    s.add_argument("--format", choices=("dicom", "png"), default="dicom",
                   help="dicom: a VinDr-layout dataset (default); png: 8-bit pictures")
    s.add_argument("--out", required=True, help="folder to write (a VinDr-layout dataset for dicom)")
    s.add_argument("--overwrite", action="store_true", help="replace the output folder if it exists")
    s.set_defaults(handler=cmd_sample)

    q = sub.add_parser("gan-quality", help="FID, KID and nearest real images of a GAN run's samples")
    q.add_argument("run", help="GAN run folder, or an experiment's GAN folder (EXPERIMENT/gan/safe or /paper)")
    q.add_argument("--n", type=number(int, 2), default=200, help="samples per class (default 200)")
    q.add_argument("--inception", help="local Inception v3 weights (.safetensors or .pth); default: a small "
                                       "network trained here on the real images")
    q.add_argument("--seed", type=number(int, 0, SEED_MAX), default=0,
                   help="seed of the samples and of the KID subsets (default 0)")
    q.set_defaults(handler=cmd_gan_quality)


def gan_config(args: argparse.Namespace) -> dict:
    from spinegui.gan.data import check_classes
    from spinegui.gan.settings import GAN_SETTINGS, gan_settings

    root = Path(args.root).expanduser().resolve()
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    values = {"root": str(root), "classes": check_classes(args.classes.split(","))}
    if args.workspace:
        values["workspace"] = str(Path(args.workspace).expanduser().resolve())
    values.update(GAN_SETTINGS.from_args(args))   # only the options given
    return gan_settings(values, source="command line")


def cmd_train_gan(args) -> int:
    from spinegui.cli.jobs import require_device, run_foreground
    from spinegui.core.dataset.vindr import load_index
    from spinegui.gan.data import check_classes

    config = gan_config(args)
    check_classes(config["classes"], load_index(config["root"]))   # refused by name before any work
    config["kind"] = "gan"
    out = Path(args.out).expanduser().resolve()
    require_device(config.get("device"))        # before any folder is written (issue 14, defect 10)
    from spinegui.torchkit.distributed import under_torchrun

    if under_torchrun():
        import os
        import sys

        from spinegui.jobs.inline import run_inline
        from spinegui.jobs.runner import seal_run

        rc = run_inline("gan", config, out)
        if int(os.environ.get("RANK", "0")) == 0:   # rank 0 wrote the run folder, in this process
            seal_run(out)
        # Everything is written (atomically, fsynced) and the process group destroyed. Gloo's worker
        # threads can still abort the interpreter's finalization ("terminate called without an active
        # exception", SIGABRT, seen about once in six runs here), which torchrun reports as a failed run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return run_foreground("gan", config, out)


def cmd_sample(args) -> int:
    from spinegui.gan.sampler import sample_run

    report = sample_run(args.run, args.n, args.out, class_name=args.class_name, last_epochs=args.last_epochs,
                        seed=args.seed, fmt=args.format, overwrite=args.overwrite)
    for cls, n in report.written.items():
        epochs = report.epochs[cls]
        print(f"{cls}: {n} synthetic images from epoch{'s' if len(epochs) > 1 else ''} "
              f"{', '.join(map(str, epochs))}")
    print(f"wrote {sum(report.written.values())} images to {report.out}")
    return 0


def cmd_gan_quality(args) -> int:
    from spinegui.gan.quality import evaluate

    # evaluate checks --n (2..5000) and the run's checkpoints before any work
    report = evaluate(args.run, n=args.n, inception=args.inception, seed=args.seed)
    print(f"features: {report['feature_net']}")
    for cls, r in report["classes"].items():
        fid = "n/a" if r["fid"] is None else f"{r['fid']:.3f}"
        kid = "n/a" if r["kid"] is None else f"{r['kid']:.4f} ± {r['kid_std']:.4f}"
        print(f"{cls} (epoch {r['epoch']}, {r['n_real']} real): FID {fid}, KID {kid}; "
              f"median distance sample->train {r['median_sample_to_train']:.3f} vs train->train "
              f"{r['median_train_to_train']:.3f}; {r['memorised_share']:.0%} of samples closer to a training "
              f"image than 95% of training images are to each other")
        for label, gate in (("quality gate", r.get("gate")), ("gate when the experiment trained it",
                                                               r.get("experiment_gate"))):
            if gate:
                why = f": {'; '.join(gate['reasons'])}" if gate.get("reasons") else ""
                print(f"  {label}: {gate['gate'].upper()}{why}")
    print(f"wrote {Path(args.run) / 'quality.json'}")
    return 0
