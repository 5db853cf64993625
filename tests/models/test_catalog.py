"""The bundled catalog validates, and malformed catalogs are refused with errors naming the fix."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import CATALOG_PATH, CatalogError, load_catalog, parse_catalog


def bundled() -> dict:
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def test_the_bundled_catalog_validates():
    entries = load_catalog()
    assert len(entries) >= 4
    for e in entries:
        assert e.model.url.startswith("https://huggingface.co/") and e.model.size > 0
        assert e.projector is not None and e.projector.name.startswith("mmproj-")
    assert all(e.permissive == (e.licence == "Apache-2.0") for e in entries)  # the others say what they are
    assert next(e for e in entries if e.id.startswith("gemma")).licence.startswith("Gemma Terms of Use")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c.pop("version"), '"version": 1'),
    (lambda c: c["models"][0].pop("licence"), r"models\[0\] \(smolvlm2-256m-video-instruct-q8\)\.licence is missing"),
    (lambda c: c["models"][0]["files"][0].update(sha256="XYZ"), "sha256 must be 64 lower-case hex digits or null"),
    (lambda c: c["models"][0]["files"][0].update(size="175 MB"), "size in bytes"),
    (lambda c: c["models"][0]["files"][0].update(url="http://example.org/m.gguf"), "must be an https:// URL"),
    (lambda c: c["models"][0]["files"][0].update(name="../evil.gguf"), "plain file name ending in .gguf"),
    (lambda c: c["models"][0]["files"][1].update(name="projector.gguf"), "saved as mmproj-"),
    (lambda c: c["models"][0]["files"][1].update(role="model"), "exactly one model"),
    (lambda c: c["models"][1].update(id=c["models"][0]["id"]), "ids must be unique"),
    (lambda c: c["models"][0].update(permissive="yes"), "permissive must be true or false"),
])
def test_a_malformed_catalog_names_the_field(edit, message):
    catalog = copy.deepcopy(bundled())
    edit(catalog)
    with pytest.raises(CatalogError, match=message):
        parse_catalog(catalog, "models.json")


def test_an_unreadable_catalog_file_is_a_catalog_error(tmp_path):
    bad = tmp_path / "models.json"
    bad.write_text('{"version": 1, "models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.json")


def test_core_models_imports_without_qt_or_torch():
    probe = ("import sys; sys.modules['PySide6'] = None; sys.modules['torch'] = None\n"
             "import core.models; core.models.load_catalog()")
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60, cwd=Path(__file__).parents[2])
