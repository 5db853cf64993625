"""The frozen editions' entry script: `spyglass` as PyInstaller starts it.

`multiprocessing.freeze_support()` comes first: the ingest readers and llama.cpp run in children
of a forkserver (core/procs.py), which a frozen program starts by running its own executable
again; PyInstaller's hook makes that call run the server instead of the app.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from app.__main__ import main

    raise SystemExit(main())
