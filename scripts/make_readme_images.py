"""Render one demo image per lesion class, with its box, for the README (docs/demo_*.png).

Uses the same path as the product: the demo generator writes DICOMs, read_image decodes them.
Run: .venv/bin/python scripts/make_readme_images.py
"""

import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from spinegui.core.dataset.vindr import LESION_COLOURS, LESION_TYPES, load_index
from spinegui.core.demo.dataset import generate_demo_dataset
from spinegui.core.dicom.reader import read_image

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEIGHT = 360


def main():
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        generate_demo_dataset(root, n_images=24, seed=11, class_mix="balanced")
        index = load_index(root)
        for lesion in LESION_TYPES:
            rec = next(r for r in index.images.values() if any(b.lesion_type == lesion for b in r.boxes))
            img = Image.fromarray(read_image(rec.path).display_u8()).convert("RGB")
            draw = ImageDraw.Draw(img)
            for b in rec.boxes:
                draw.rectangle(b.xyxy, outline=LESION_COLOURS[b.lesion_type], width=4)
            scale = HEIGHT / img.height
            img = img.resize((round(img.width * scale), HEIGHT), Image.Resampling.LANCZOS)
            out = DOCS / f"demo_{lesion.lower().replace(' ', '_')}.png"
            img.save(out, optimize=True)
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
