"""The Results tab: tables, charts, confusion matrices, Grad-CAM."""
