import multiprocessing

from spinegui.cli.entry import main

if __name__ == "__main__":
    multiprocessing.freeze_support()   # job and decoder processes in a frozen (PyInstaller) app
    raise SystemExit(main())
