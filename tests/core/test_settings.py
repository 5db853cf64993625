"""Settings: precedence CLI > environment > file > defaults, file errors, and the README table."""

import json
import re
from pathlib import Path

import pytest

from core.settings import ENV_VARS, FIELDS, MsaSettings, Settings, load_settings, save_settings, settings_path

ROOT = Path(__file__).resolve().parents[2]


def test_precedence_cli_over_env_over_file_over_defaults(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(Settings(max_tokens=100, context_tokens=2048, model_dir="/file"), path)
    env = {"SPYGLASS_MAX_TOKENS": "200", "SPYGLASS_THINK": "yes", "SPYGLASS_TEMPERATURE": "0.5"}
    s = load_settings({"max_tokens": 300, "model_dir": None}, env=env, path=path)
    assert (s.max_tokens, s.context_tokens, s.model_dir, s.think, s.temperature) == (300, 2048, "/file", True, 0.5)
    assert load_settings(env={}, path=tmp_path / "none.json") == Settings()


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="SPYGLASS|max_tokens"):
        load_settings(env={"SPYGLASS_MAX_TOKENS": "lots"}, path=tmp_path / "x.json")
    (tmp_path / "bad.json").write_text('{"colour": "blue"}')
    with pytest.raises(ValueError, match="unknown settings colour"):
        load_settings(env={}, path=tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="fix or delete it"):
        load_settings(env={}, path=tmp_path / "broken.json")


def test_file_lives_in_the_xdg_config_folder():
    assert settings_path({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/spyglass/settings.json")


def test_readme_table_lists_every_setting_once():
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- settings-table -->")[1]
    rows = re.findall(r"^\| `([\w.]+)` \| `(SPYGLASS_\w+)` \|", table, re.M)
    assert sorted(rows) == sorted((name, f.metadata["env"]) for name, f in FIELDS.items())
    assert len(ENV_VARS) == len(FIELDS)


def test_saving_keeps_the_files_value_for_an_untouched_override(tmp_path):
    from core.settings import overridden_fields

    path = tmp_path / "settings.json"
    save_settings(Settings(model_dir="/saved", temperature=0.2), path)
    in_force = load_settings({"model_dir": "/one-off"}, env={"SPYGLASS_MAX_TOKENS": "64"}, path=path)
    keep = overridden_fields(["--model_dir", "SPYGLASS_MAX_TOKENS"])
    assert keep == {"model_dir", "max_tokens"}
    edited = Settings(**{**in_force.__dict__, "temperature": 0.9})  # what the dialog changed
    save_settings(edited, path, keep=keep)
    saved = load_settings(env={}, path=path)
    assert (saved.model_dir, saved.max_tokens, saved.temperature) == ("/saved", Settings().max_tokens, 0.9)


def test_each_engine_has_its_section_in_the_file_the_environment_and_the_flags(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(Settings(engine="msa", msa=MsaSettings(device="cpu", dtype="fp32")), path)
    assert json.loads(path.read_text()) == {"engine": "msa", "msa": {"device": "cpu", "dtype": "fp32"}}
    env = {"SPYGLASS_ATTENTION": "reference", "SPYGLASS_DECODE_GRAPH": "0"}
    s = load_settings({"msa.device": "cuda:1"}, env=env, path=path)
    assert s.msa == MsaSettings(device="cuda:1", dtype="fp32", attention="reference", decode_graph=False)
    assert s.get("msa.dtype") == "fp32" and s.with_values({"msa.dtype": "bf16"}).msa.dtype == "bf16"
    with pytest.raises(ValueError, match="SPYGLASS_ATTENTION: setting msa.attention = 'fast' is not allowed; it must be one of reference, triton"):
        load_settings(env={"SPYGLASS_ATTENTION": "fast"}, path=path)


def test_the_index_cache_comes_from_the_flags_the_environment_the_file_or_the_default(tmp_path):
    path = tmp_path / "settings.json"
    assert load_settings(env={}, path=path).msa.index_cache == "auto"
    save_settings(Settings(msa=MsaSettings(index_cache="fp8")), path)
    assert json.loads(path.read_text()) == {"msa": {"index_cache": "fp8"}}
    assert load_settings(env={}, path=path).msa.index_cache == "fp8"
    env = {"SPYGLASS_INDEX_CACHE": "auto"}
    assert load_settings(env=env, path=path).msa.index_cache == "auto"
    assert load_settings({"msa.index_cache": "fp8"}, env=env, path=path).msa.index_cache == "fp8"
    assert load_settings({"msa.index_cache": None}, env=env, path=path).msa.index_cache == "auto"
    with pytest.raises(ValueError, match=r"SPYGLASS_INDEX_CACHE: setting msa.index_cache = 'fp16' is not allowed; "
                                         r"it must be one of auto, fp8 \(auto: the KV cache's dtype\)"):
        load_settings(env={"SPYGLASS_INDEX_CACHE": "fp16"}, path=path)


def test_a_file_from_before_sections_still_reads(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"device": "cpu", "dtype": "bf16", "max_tokens": 7}')
    s = load_settings(env={}, path=path)
    assert (s.msa.device, s.msa.dtype, s.max_tokens) == ("cpu", "bf16", 7)


def test_only_core_settings_reads_spyglass_variables():
    offenders = [str(p.relative_to(ROOT)) for folder in ("core", "kernels", "app") for p in (ROOT / folder).rglob("*.py")
                 if p.name != "settings.py" and re.search(r"os\.environ|getenv\(", p.read_text())
                 and "SPYGLASS_" in p.read_text()]
    assert offenders == []
