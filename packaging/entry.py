"""The frozen app's entry point (PyInstaller runs this file as __main__).

freeze_support() comes before anything else: a job, image-decoder or resource-tracker process that
multiprocessing starts from the bundle re-runs this executable, and must run its task, not the CLI.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from spinegui.cli.entry import main

    raise SystemExit(main())
