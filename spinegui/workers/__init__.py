"""Torch-side worker processes of the app: the loop they share (``loop``).

No Qt here: this code runs in a spawned process. The app's side of a worker is
``spinegui.ui.common.worker_engine``; each worker module (``spinegui.ui.augment.worker``,
``spinegui.ui.results.gradcam_worker``) brings only what it loads and how it answers one request.
"""
