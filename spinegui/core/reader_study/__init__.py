"""Blinded real-vs-synthetic reader studies ("visual Turing test"): no Qt, no torch.

    study = new_study(real_root, synthetic_dir, out, classes=None, n_real=None, n_synthetic=None, seed=0, size=512)
    study = open_study(folder)          # .folder .items .classes .item_path(id) .load_item(id)
    s = session(study, "rad1")          # .order .answered .next_item() .record(...) .progress
    scores = score_study(folder)        # also writes scores.json

See study.py for the folder, render.py for the one rendering path, session.py for answers and
scoring.py for the statistics.
"""

from spinegui.core.reader_study.scoring import score_study
from spinegui.core.reader_study.session import Answer, ReaderSession, read_answers, session
from spinegui.core.reader_study.study import Study, new_study, open_study, read_key

__all__ = ["Answer", "ReaderSession", "Study", "new_study", "open_study", "read_answers", "read_key",
           "score_study", "session"]
