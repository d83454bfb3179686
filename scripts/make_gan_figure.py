"""README figure: real training images (left) beside WGAN-GP samples (right), both 64 px.

Usage: python scripts/make_gan_figure.py RUN OUT.png
RUN is a run of `spinegui train-gan`, or an experiment's GAN folder (EXPERIMENT/gan/safe); the dataset
and workspace are read from RUN/config.toml, or from the experiment's.
"""

import sys
import tomllib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def main(run: str, out: str) -> None:
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace
    from spinegui.gan.data import load_gan_data
    from spinegui.gan.sampler import generate, run_models

    own = Path(run) / "config.toml"
    config = tomllib.loads((own if own.is_file() else Path(run).parent.parent / "config.toml").read_text())
    model = run_models(run)[0]
    index = load_index(config["root"])
    data = load_gan_data(index, model.classes, model.meta["size"], workspace=Workspace.for_dataset(
        index.root, config.get("workspace")))
    real = (data.images[:32] / 257).astype(np.uint8)
    fake = (generate(model.full, model.meta, 32, 0, seed=1) / 4095 * 255).astype(np.uint8)
    size = real.shape[-1]

    def grid(tiles):
        return tiles.reshape(4, 8, size, size).transpose(0, 2, 1, 3).reshape(4 * size, 8 * size)

    gap = 16
    canvas = np.full((4 * size + 28, 16 * size + gap), 255, np.uint8)
    canvas[28:, : 8 * size] = grid(real)
    canvas[28:, 8 * size + gap:] = grid(fake)
    img = Image.fromarray(canvas).resize((canvas.shape[1] * 2, canvas.shape[0] * 2), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=30)  # (the default 10 px loses its spaces once a browser scales the figure)
    draw.text((8, 10), f"real training images ({', '.join(model.classes)}, {size} px)", fill=0, font=font)
    draw.text(((8 * size + gap) * 2 + 8, 10), f"SYNTHETIC: WGAN-GP samples, epoch {model.meta['epoch']}", fill=0,
              font=font)
    img.save(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
