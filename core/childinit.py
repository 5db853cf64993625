"""Imported first in the forkserver of `core/procs.py` (its preload list), and nowhere else: the
children that server forks do not re-run the parent's main script.

multiprocessing has each child run the parent's `__main__` file again (as `__mp_main__`) before
it unpickles the target, so that functions defined in a script can be found. Every Spyglass
child target lives in an importable module, while a main script may import anything: one that
imports torch left each ingest reader 3.4 GiB of address space in use before it read a byte,
under a memory bound meant for the reader, and seconds of import inside its stall bound. The two
stdlib hooks that do this (private, unchanged since Python 3.4) become no-ops in this server only.
"""

from __future__ import annotations

from multiprocessing import spawn


def _keep_main(_main: str) -> None:
    """Stand-in for `spawn._fixup_main_from_path` and `_fixup_main_from_name`: `__main__` stays."""


setattr(spawn, "_fixup_main_from_path", _keep_main)  # noqa: B010 - private stdlib hooks, by name
setattr(spawn, "_fixup_main_from_name", _keep_main)  # noqa: B010
