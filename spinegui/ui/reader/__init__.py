"""The app's "Reader study" mode: a blinded real-vs-synthetic reader study on core.reader_study.

menu.py (the main window's menu), new_study.py (the New-study form), reading.py (the blinded reading
window, with answer_panel.py and image_view.py), scores.py (the unblinded scores).
"""
