"""List every component in a frozen bundle with its licence, collect the licence texts into the
bundle, and fail on GPL or AGPL.

    python packaging/licenses.py dist/Spyglass        (run with the build venv's Python)

PyInstaller's manifest (`<bundle>.manifest.json`, written by spyglass.spec) says where each file
came from. A file from the build venv belongs to the distribution whose RECORD lists it; the
Python runtime and its standard library are CPython's; shared libraries copied from the system
belong to their Debian package (dpkg -S). Native libraries that wheels carry inside them (OpenCV's
FFmpeg, NumPy's OpenBLAS, ...) are listed as components of their own from `native.py`.
A licence is allowed unless it names GPL or AGPL; LGPL is allowed, `X OR Y` passes when one side
does, and `WITH` a runtime exception (GCC's, PyInstaller's bootloader's) is allowed. Unknown
components fail too, so nothing enters the bundle unlisted. Writes `licenses/` into the bundle
(each distribution's licence files, system copyright files, the Qt/LGPL notice and
COMPONENTS.txt) and returns 1 if anything is not allowed.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from native import ABSENT, COMMON, COMMON_TEXTS, EXCEPTIONS, INSIDE_WHEELS, SYSTEM, VENDORED  # noqa: E402
from sbom import write_sbom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OWN_LICENCE = "LicenseRef-Spyglass"  # the project's own code; pyproject.toml declares no licence yet
PREFERRED = {"python3-xlib": "python-xlib"}  # the GPL fork's RECORD also lists Xlib/: the files are python-xlib's
UNKNOWN = "UNKNOWN: add its licence to packaging/native.py"
_GPL = re.compile(r"(?<![L\w])A?GPL|GNU (Affero )?General Public|Affero", re.I)


@dataclass
class Component:
    name: str
    version: str
    licence: str
    kind: str  # python, native, system, runtime
    files: list[str] = field(default_factory=list)
    licence_files: list[Path] = field(default_factory=list)


def allowed(licence: str) -> bool:
    """False when `licence` requires GPL or AGPL terms for the bundle. AND binds tighter than OR;
    a term `X WITH <runtime exception>` is allowed, whatever X is."""
    if not licence or licence.startswith("UNKNOWN"):
        return False
    excepted = r"[\w.+-]+\s+WITH\s+(" + "|".join(map(re.escape, EXCEPTIONS)) + r")"
    expression = re.sub(excepted, "runtime-exception", licence)
    tokens = re.findall(r"\(|\)|\bAND\b|\bOR\b|(?:(?!\bAND\b|\bOR\b)[^()])+", expression)
    value, rest = _any_of([t.strip() for t in tokens if t.strip()])
    return value and not rest


def _any_of(tokens: list[str]) -> tuple[bool, list[str]]:
    value, tokens = _all_of(tokens)
    while tokens[:1] == ["OR"]:
        right, tokens = _all_of(tokens[1:])
        value = value or right
    return value, tokens


def _all_of(tokens: list[str]) -> tuple[bool, list[str]]:
    value, tokens = _term(tokens)
    while tokens[:1] == ["AND"]:
        right, tokens = _term(tokens[1:])
        value = value and right
    return value, tokens


def _term(tokens: list[str]) -> tuple[bool, list[str]]:
    if tokens[:1] == ["("]:
        value, tokens = _any_of(tokens[1:])
        return value, tokens[1:] if tokens[:1] == [")"] else tokens
    if not tokens:
        return False, tokens
    return not _GPL.search(tokens[0]), tokens[1:]


def licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [_short(c.split(" :: ")[-1]) for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 80:
        return text
    return " OR ".join(classifiers) or f"{UNKNOWN} (none in its metadata)"


def _short(classifier: str) -> str:
    """"GNU Lesser General Public License v3 (LGPLv3)" -> "LGPLv3"; a name without one stays."""
    found = re.search(r"\(([^()]+)\)$", classifier)
    return found.group(1) if found else classifier


def owners() -> dict[Path, md.Distribution]:
    """Every file of every installed distribution, resolved, to its distribution."""
    found: dict[Path, md.Distribution] = {}
    for dist in md.distributions():
        for file in dist.files or ():
            path = Path(dist.locate_file(file)).resolve()
            current = found.get(path)
            if current is None or PREFERRED.get(current.metadata["Name"]) == dist.metadata["Name"]:
                found[path] = dist
    return found


def debian_package(path: Path) -> str | None:
    for candidate in {str(path), str(path).replace("/usr/lib/", "/lib/"), str(path).replace("/lib/", "/usr/lib/", 1)}:
        run = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if run.returncode == 0:
            return run.stdout.split(":")[0]
    return None


def classify(manifest: list[dict]) -> dict[str, Component]:
    """The bundle's components, keyed, each with the bundle files it accounts for."""
    files, parts = owners(), {}
    for entry in manifest:
        source = Path(entry["source"]).resolve() if entry["source"] else None
        if source is not None and source.exists():
            key, make = _component(source, files)
            if key not in parts:
                parts[key] = make()
            parts[key].files.append(entry["dest"])
    if "pyinstaller" not in parts:
        parts["pyinstaller"] = _bootloader(md.distribution("pyinstaller"))
    parts["pyinstaller"].files.append("spyglass (the executable: PyInstaller's bootloader)")
    return parts


def _component(source: Path, files: dict[Path, md.Distribution]) -> tuple[str, Callable[[], Component]]:
    """Which component `source` belongs to, and how to describe that component."""
    base = Path(sys.base_prefix).resolve()
    if source in files:
        dist = files[source]
        if dist.metadata["Name"].lower() == "pyinstaller":
            return "pyinstaller", partial(_bootloader, dist)
        if dist.metadata["Name"].lower() == "spyglass":
            return "spyglass", partial(Component, "spyglass", dist.version, OWN_LICENCE, "python")
        return _inside_wheel(source, dist) or (f"python:{dist.metadata['Name']}", partial(_python_component, dist))
    if source.is_relative_to(ROOT):
        return "spyglass", partial(Component, "spyglass", _version("spyglass"), OWN_LICENCE, "python")
    if source.is_relative_to(base):
        version = ".".join(map(str, sys.version_info[:3]))
        return "CPython", partial(Component, "CPython", version, "PSF-2.0", "runtime",
                                  licence_files=sorted(base.glob("lib/python3*/LICENSE.txt"))[:1])
    package = debian_package(source)
    return f"debian:{package or source.name}", partial(_system_component, package, source)


def _python_component(dist: md.Distribution) -> Component:
    return Component(dist.metadata["Name"], dist.version, licence_of(dist), "python",
                     licence_files=_dist_licences(dist))


def _bootloader(dist: md.Distribution) -> Component:
    return Component("PyInstaller bootloader and runtime hooks", dist.version,
                     "GPL-2.0-or-later WITH Bootloader-exception AND Apache-2.0", "runtime",
                     licence_files=_dist_licences(dist))


def _system_component(package: str | None, source: Path) -> Component:
    licence = SYSTEM.get(package or "", f"{UNKNOWN} for this system library")
    copyright_file = [Path(f"/usr/share/doc/{package}/copyright")] if package else []
    return Component(package or source.name, _deb_version(package), licence, "system", licence_files=copyright_file)


def _inside_wheel(source: Path, dist: md.Distribution) -> tuple[str, Callable[[], Component]] | None:
    """A library a wheel carries in `<name>.libs/`, as its own component; its licence text is in
    the wheel's licence files (OpenCV's LICENSE-3RD-PARTY.txt, NumPy's LICENSE.txt, ...). Other
    vendored files (native.VENDORED) are matched by their path under site-packages."""
    vendored = _vendored(source, dist)
    if vendored or not source.parent.name.endswith(".libs"):
        return vendored
    texts = _dist_licences(dist)
    for pattern, (name, licence) in INSIDE_WHEELS.items():
        if re.search(pattern, source.name):
            return f"native:{name}", partial(Component, name, f"(in {dist.metadata['Name']})", licence, "native",
                                             licence_files=texts)
    return f"native:{source.name}", partial(Component, source.name, "?", f"{UNKNOWN} in a wheel", "native")


def _vendored(source: Path, dist: md.Distribution) -> tuple[str, Callable[[], Component]] | None:
    root = Path(dist.locate_file("")).resolve()
    if not source.is_relative_to(root):  # a file a distribution installs outside site-packages
        return None
    inside = source.relative_to(root).as_posix()
    for pattern, (name, licence, text) in VENDORED.items():
        if re.search(pattern, inside):
            texts = (_dist_licences(md.distribution(text)) if isinstance(text, str)
                     else [text] if text is not None else _dist_licences(dist))
            return f"native:{name}", partial(Component, name, f"(in {dist.metadata['Name']})", licence, "native",
                                             licence_files=texts)
    return None


def _dist_licences(dist: md.Distribution) -> list[Path]:
    """The licence files a distribution installed: its dist-info `licenses/` folder (PEP 639),
    and LICENSE/COPYING/NOTICE/AUTHORS files elsewhere in its dist-info."""
    names = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.I)
    return [Path(dist.locate_file(f)) for f in dist.files or ()
            if ".dist-info/licenses/" in str(f) or (".dist-info" in str(f) and names.search(f.name))]


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "?"


def _deb_version(package: str | None) -> str:
    if not package:
        return "?"
    run = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return run.stdout.strip() or "?"


def embedded(parts: dict[str, Component]) -> tuple[int, list[str]]:
    """Check the components that bundled wheels list in their own SBOMs (.dist-info/sboms): how many
    there are, and the ones not allowed (unless ABSENT proves them missing from this build)."""
    count, bad = 0, []
    for key in parts:
        if not key.startswith("python:"):
            continue
        dist = md.distribution(key.split(":", 1)[1])
        for file in dist.files or ():
            if "/sboms/" not in str(file) or not str(file).endswith(".json"):
                continue
            for item in json.loads(Path(dist.locate_file(file)).read_text()).get("components", []):
                count += 1
                licence = " AND ".join(_sbom_licence(x) for x in item.get("licenses", [])) or "not stated"
                absent = ABSENT.get(dist.metadata["Name"].lower(), {}).get(item.get("name", ""))
                if licence != "not stated" and not allowed(licence) and not (absent and absent()):
                    bad.append(f"{item.get('name')} {item.get('version')} in {dist.metadata['Name']}: {licence}")
    return count, bad


def _sbom_licence(entry: dict) -> str:
    if "expression" in entry:
        return f"({entry['expression']})"
    licence = entry.get("license", {})
    return licence.get("id") or licence.get("name") or "not stated"


def write_licences(bundle: Path, parts: dict[str, Component]) -> tuple[Path, list[str]]:
    """Copy every component's licence texts into the bundle's `licenses/`; returns the folder and
    the components for which no text was found (named in COMPONENTS.txt, not a failure)."""
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    out = internal / "licenses"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    missing = []
    for part in parts.values():
        folder = out / re.sub(r"[^A-Za-z0-9._+-]+", "_", part.name)
        texts = [f for f in part.licence_files if f.is_file()]
        texts = texts or [COMMON / n for n in COMMON_TEXTS.get(part.name, ()) if (COMMON / n).is_file()]
        if not texts and part.name != "spyglass":
            missing.append(part.name)
        for file in texts:
            inside = str(file).split(".dist-info/licenses/", 1)
            target = folder / (inside[1] if len(inside) == 2 else file.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
    shutil.copyfile(Path(__file__).with_name("NOTICE-LGPL.txt"), out / "NOTICE-LGPL.txt")
    note = f"\nNo licence text found for: {', '.join(sorted(missing))}\n" if missing else ""
    (out / "COMPONENTS.txt").write_text(table(parts) + note)
    return out, missing


def table(parts: dict[str, Component]) -> str:
    rows = sorted(parts.values(), key=lambda p: (p.kind, p.name.lower()))
    lines = [f"{'component':40} {'version':24} {'kind':8} {'files':>5}  licence"]
    for p in rows:
        mark = "" if allowed(p.licence) else "   <-- NOT ALLOWED"
        lines.append(f"{p.name[:40]:40} {p.version[:24]:24} {p.kind:8} {len(p.files):5}  {p.licence}{mark}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python packaging/licenses.py dist/BUNDLE", file=sys.stderr)
        return 2
    bundle = Path(argv[0])
    manifest_path = bundle.with_name(bundle.name + ".manifest.json")
    if not manifest_path.is_file():
        print(f"licenses: {manifest_path} is missing; build with packaging/spyglass.spec first", file=sys.stderr)
        return 2
    parts = classify(json.loads(manifest_path.read_text()))
    out, missing = write_licences(bundle, parts)
    print(table(parts), end="")
    bad = [f"{p.name} {p.version}: {p.licence} ({', '.join(p.files[:3])})" for p in parts.values()
           if not allowed(p.licence)]
    count, inner = embedded(parts)
    sbom = write_sbom(bundle, parts)
    if missing:
        print(f"licenses: no licence text found for {', '.join(sorted(missing))} (listed, not a failure)")
    print(f"licenses: {len(parts)} components, licence texts in {out}; {count} more listed in bundled wheels' "
          f"own SBOMs; SBOM (CycloneDX) {sbom}; {len(bad) + len(inner)} not allowed")
    for line in bad + inner:
        print(f"licenses: NOT ALLOWED: {line}", file=sys.stderr)
    return 1 if bad or inner else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
