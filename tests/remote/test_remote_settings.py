"""The `remote` settings section: defaults, the environment, the file, and values refused with
their key (a URL that is not http(s), a timeout that is not above 0, a negative retry count)."""

import json

import pytest

from core.settings import RemoteSettings, Settings, load_settings, save_settings


def test_defaults_environment_and_file(tmp_path):
    assert RemoteSettings() == RemoteSettings(None, None, 10.0, 120.0, 3)
    env = {"SPYGLASS_REMOTE_URL": "https://gpu:8000/v1", "SPYGLASS_REMOTE_READ_TIMEOUT": "30",
           "SPYGLASS_REMOTE_RETRIES": "0"}
    s = load_settings(env=env, path=tmp_path / "none.json")
    assert (s.remote.base_url, s.remote.read_timeout, s.remote.retries) == ("https://gpu:8000/v1", 30.0, 0)
    path = tmp_path / "settings.json"
    save_settings(Settings(engine="remote", remote=RemoteSettings(base_url="http://h/v1", model="m")), path)
    assert json.loads(path.read_text()) == {"engine": "remote", "remote": {"base_url": "http://h/v1", "model": "m"}}
    assert load_settings(env={}, path=path).remote.model == "m"


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("base_url", "gpu-box:8000", "an http:// or https:// URL"),
    ("base_url", "http://", "an http:// or https:// URL"),
    ("connect_timeout", 0, "seconds above 0"),
    ("read_timeout", float("inf"), "seconds above 0"),
    ("retries", -1, "a whole number from 0 to 20"),
    ("model", " ", "a model name the server lists"),
])
def test_bad_values_are_named(field, value, allowed):
    with pytest.raises(ValueError, match=f"setting remote.{field} = .* is not allowed; it must be {allowed}"):
        RemoteSettings(**{field: value})
