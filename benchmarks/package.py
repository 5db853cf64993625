"""The packaged edition's budgets: its size unpacked and its cold start to a visible window.

    python benchmarks/package.py [dist/Spyglass] [--runs 5]

Size is the bundle folder's apparent size (what `du --apparent-size` says), as unpacked from the
tar.xz, with the archive's size beside it when there is one. Start time is measured from spawning
`spyglass --exit-when-shown` to its line saying X exposed the window, on a virtual display
started here, with an empty environment and a fresh HOME each run (a first start: no settings,
no history). The first run follows a page-cache drop when this process may do one (root), so it
is a cold start; the others are warm. Budgets (issue 16): at most 350 MB, at most 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.selftest.display import display  # noqa: E402

SIZE_BUDGET_MB, START_BUDGET_S = 350, 3.0


def apparent_size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*"))


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def start_once(bundle: Path, display_name: str) -> float:
    with tempfile.TemporaryDirectory() as home:
        env = {"HOME": home, "DISPLAY": display_name}
        started = time.perf_counter()
        child = subprocess.Popen([str(bundle / "spyglass"), "--exit-when-shown"], env=env, cwd=home,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in child.stdout:
            if line.startswith("spyglass: window shown"):
                elapsed = time.perf_counter() - started
                break
        else:
            raise RuntimeError(f"the window was never shown (exit status {child.wait()})")
        child.wait(30)
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", default=str(ROOT / "dist" / "Spyglass"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    size = apparent_size(bundle)
    archives = sorted(bundle.parent.glob(f"{bundle.name}-*.tar.xz"))
    with display() as name:
        cold = drop_caches()
        times = [start_once(bundle, name) for _ in range(args.runs)]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}; {time.strftime('%Y-%m-%d')}")
    print("| measure | value | budget |\n| --- | --- | --- |")
    print(f"| {bundle.name} unpacked | {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) | {SIZE_BUDGET_MB} MB |")
    for archive in archives:
        print(f"| {archive.name} | {archive.stat().st_size / 1e6:.0f} MB | - |")
    first = "cold (page cache dropped)" if cold else "first (page cache not dropped)"
    print(f"| start to visible window, {first} | {times[0]:.2f} s | {START_BUDGET_S} s |")
    if len(times) > 1:
        warm = times[1:]
        print(f"| start to visible window, warm, median of {len(warm)} | {statistics.median(warm):.2f} s "
              f"(min {min(warm):.2f}, max {max(warm):.2f}) | {START_BUDGET_S} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
