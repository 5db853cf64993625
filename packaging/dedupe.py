"""Replace byte-identical files in a bundle with relative symlinks to one copy (Linux, macOS).

Wheels cannot hold symlinks, so a library's soname alias arrives as a second full copy
(llama-cpp-python ships `libllama.so` and `libllama.so.0`, 4 MB each), and licence folders
repeat the same long text per component. The loader and a person reading the licences see the
same bytes through the link. Run after PyInstaller, before the licence list and the archive.

    python packaging/dedupe.py dist/Spyglass
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

MIN_BYTES = 16 * 1024  # smaller files are not worth a link


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dedupe(root: Path) -> tuple[int, int]:
    """Link every duplicate to the first copy in sorted path order; (files linked, bytes saved)."""
    by_size: dict[int, list[Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if size >= MIN_BYTES:
            by_size.setdefault(size, []).append(path)
    linked = saved = 0
    for size, paths in by_size.items():
        first: dict[str, Path] = {}
        for path in paths:
            keep = first.setdefault(digest(path), path)
            if keep is not path:
                path.unlink()
                path.symlink_to(os.path.relpath(keep, path.parent))
                linked, saved = linked + 1, saved + size
    return linked, saved


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python packaging/dedupe.py BUNDLE_FOLDER")
    n, saved = dedupe(Path(sys.argv[1]))
    print(f"dedupe: {n} duplicate files linked, {saved / 1e6:.1f} MB saved")
