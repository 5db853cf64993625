"""The one way Spyglass starts a child process for native code (ingest readers, llama.cpp).

Children fork from a forkserver: cheap per child, safe from a threaded parent (Qt), and since its
preload list is set here it imports the ingest readers once and never the app's `__main__` (a
script run without the `if __name__ == "__main__"` guard still works); `core.childinit`, first
in the list, keeps the children from running it either, so a child holds only what it imports
itself. Both users share the one forkserver, so the list is set in this one place, before it
first starts. Windows, which has no
forkserver, spawns.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Any

PRELOAD = ["core.childinit", "core.ingest.pdf", "core.ingest.images", "core.ingest.video"]  # imported in the server
_lock = threading.Lock()
_context: Any = None


def child_context() -> Any:
    """The multiprocessing context to start children from."""
    global _context
    with _lock:
        if _context is None:
            if "forkserver" in mp.get_all_start_methods():
                _context = mp.get_context("forkserver")
                _context.set_forkserver_preload(PRELOAD)
            else:
                _context = mp.get_context("spawn")
        return _context
