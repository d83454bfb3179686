"""Pieces every panel uses: worker-process engine, background tasks, forms, image loading."""
