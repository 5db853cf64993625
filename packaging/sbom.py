"""The bundle's CycloneDX SBOM, written next to it as `<bundle>.cdx.json`.

cyclonedx-py (the CycloneDX project's own tool) describes the build venv, with each
distribution's purl, hashes and licences; that list is cut down to the distributions actually in
the bundle, and the native and system libraries packaging/licenses.py found are added as
components of their own, with their licences, so the SBOM covers what ships, not what built it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_sbom(bundle: Path, parts: dict) -> Path:
    out = bundle.with_name(bundle.name + ".cdx.json")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "env.cdx.json"
        tool = Path(sys.executable).with_name("cyclonedx-py")
        subprocess.run([str(tool), "environment", "--pyproject", str(Path(__file__).parents[1] / "pyproject.toml"),
                        "--of", "JSON", "-o", str(raw), sys.executable], check=True, capture_output=True)
        bom = json.loads(raw.read_text())
    bundled = {_norm(p.name) for key, p in parts.items() if key.startswith("python:")}
    kept = [c for c in bom.get("components", []) if _norm(c.get("name", "")) in bundled]
    root = bom.get("metadata", {}).get("component", {}).get("bom-ref")
    refs = {c["bom-ref"] for c in kept if "bom-ref" in c} | {root}
    for p in parts.values():
        if p.kind in ("native", "system", "runtime"):
            ref = f"{p.kind}:{p.name}"
            kept.append({"type": "library", "bom-ref": ref, "name": p.name, "version": p.version,
                         "licenses": [{"expression": p.licence}],
                         "properties": [{"name": "spyglass:bundled-files", "value": str(len(p.files))}]})
            refs.add(ref)
    bom["components"] = kept
    bom["dependencies"] = [{**d, "dependsOn": [x for x in d.get("dependsOn", []) if x in refs]}
                           for d in bom.get("dependencies", []) if d.get("ref") in refs]
    out.write_text(json.dumps(bom, indent=1))
    return out
