"""The API key: stored per server outside settings.json (this machine has no OS keyring, so in a
0600 file inside a 0700 folder), the environment's key wins, and after a full load and reply
against a server that requires it, the key is in neither settings.json nor any log line."""

import logging
import stat

import keyring
import pytest
from keyring.backends import fail

from core.engine import GREEDY, GenerateOptions, open_engine
from core.events import Finished
from core.messages import Message
from core.secrets import get_api_key, secret_file, set_api_key
from core.settings import API_KEY_VARIABLE, RemoteSettings, Settings, load_settings, save_settings, settings_path


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    return tmp_path / "config" / "spyglass"


def test_without_a_keyring_the_key_is_a_file_only_the_user_reads(config):
    assert isinstance(keyring.get_keyring(), fail.Keyring)  # this machine has no keyring service
    url = "http://gpu-box:8000/v1"
    assert get_api_key(url) is None
    where = set_api_key(url, "sk-one")
    path = secret_file(url)
    assert where == str(path) and path.parent == config / "secrets"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == "sk-one" and get_api_key(url + "/") == "sk-one"  # one key per server
    assert get_api_key("http://other:8000/v1") is None
    set_api_key(url, "sk-two")
    assert get_api_key(url) == "sk-two" and [p.name for p in path.parent.iterdir()] == [path.name]
    set_api_key(url, "")
    assert get_api_key(url) is None and not path.exists()


def test_the_environment_wins_and_is_never_a_setting(config, monkeypatch):
    set_api_key("http://h/v1", "sk-stored")
    monkeypatch.setenv(API_KEY_VARIABLE, "sk-from-env")
    assert get_api_key("http://h/v1") == "sk-from-env"
    assert load_settings(use_file=False) == Settings()  # no field holds it


def test_the_key_is_in_no_settings_file_and_no_log(config, llama_server, caplog):
    settings = Settings(engine="remote", remote=RemoteSettings(base_url=llama_server.url))
    save_settings(settings, settings_path())
    set_api_key(llama_server.url, llama_server.key)
    with caplog.at_level(logging.DEBUG):
        engine = open_engine(load_settings())
        engine.load()
        events = list(engine.generate([Message.text("user", "hello")], GenerateOptions(sampling=GREEDY, max_tokens=3)))
        engine.close()
    assert events[-1] == Finished("length")
    saved = settings_path().read_text()
    assert llama_server.url in saved and llama_server.key not in saved
    assert {"openai._base_client", "core.engine.remote"} <= {r.name for r in caplog.records}  # the client debugged too
    assert llama_server.key not in caplog.text
    assert all(llama_server.key not in str(r.args) for r in caplog.records)
    assert secret_file(llama_server.url).read_text() == llama_server.key
