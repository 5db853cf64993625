"""Settings from hostile files, variables and flags: every bad value is refused with a message that
names where it came from (the file, the variable, the flag), the key, the value and what is
allowed; nothing is turned into a string or clamped. Saving onto a folder leaves nothing behind.
"""

import json
import math

import pytest

from core.settings import MsaSettings, Settings, SettingsFileError, load_settings, save_settings


def nested(key: str, value_json: str) -> str:
    section, _, name = key.rpartition(".")
    inner = f'{{"{name}": {value_json}}}'
    return f'{{"{section}": {inner}}}' if section else inner


# key, the value as JSON text, as an environment string (None: no such string), as Python, as
# the message shows it, and words from what is allowed
BAD = [
    ("temperature", "NaN", "nan", math.nan, "nan", "a finite number of at least 0"),
    ("temperature", "-3", "-3", -3.0, "-3", "a finite number of at least 0"),
    ("temperature", "Infinity", "inf", math.inf, "inf", "a finite number of at least 0"),
    ("top_p", "7", "7", 7.0, "7", "a number above 0 and at most 1"),
    ("top_p", "0", "0", 0.0, "0", "a number above 0 and at most 1"),
    ("top_k", "-1", "-1", -1, "-1", "a whole number of at least 0"),
    ("context_tokens", "1e30", None, 1e30, "1e+30", "a whole number from 1 to 10,000,000"),
    ("context_tokens", "1" + "0" * 30, "1" + "0" * 30, 10**30, "1" + "0" * 30, "a whole number from 1 to 10,000,000"),
    ("max_tokens", "true", None, True, "True", "a whole number from 1"),
    ("msa.device", '"potato"', "potato", "potato", "'potato'", "cpu, cuda or cuda:N"),
    ("msa.device", '"cuda:x"', "cuda:x", "cuda:x", "'cuda:x'", "cpu, cuda or cuda:N"),
    ("msa.dtype", '"fp16"', "fp16", "fp16", "'fp16'", "one of bf16, fp32"),
    ("msa.attention", '"fast"', "fast", "fast", "'fast'", "one of reference, triton"),
    ("msa.index_cache", '"e5m2"', "e5m2", "e5m2", "'e5m2'", "one of auto, fp8 (auto: the KV cache's dtype)"),
    ("model_dir", '["a", "b"]', None, ["a", "b"], "['a', 'b']", "a folder name"),
    ("model_dir", '"/models/a\\u0000b"', None, "/models/a\0b", "'/models/a\\x00b'", "without NUL"),
    ("system_prompt", "{}", None, {}, "{}", "text"),
    ("think", '"yes"', None, "yes", "'yes'", "true or false, or null"),
    ("seed", "-5", "-5", -5, "-5", "a whole number from 0 to 4,294,967,295"),
    ("gguf.gpu_layers", "-2", "-2", -2, "-2", "-1 for all layers"),
    ("gguf.threads", "0", "0", 0, "0", "at least 1"),
    ("gguf.mmap", "1", None, 1, "1", "true or false"),
    ("agent.max_steps", "0", "0", 0, "0", "a whole number from 1 to 1,000"),
    ("agent.max_steps", "5000", "5000", 5000, "5000", "a whole number from 1 to 1,000"),
    ("agent.monitor", "-1", "-1", -1, "-1", "0 (all monitors)"),
    ("agent.stop_hotkey", '"ctrl alt end"', "ctrl alt end", "ctrl alt end", "'ctrl alt end'", "joined by +"),
    ("agent.stop_hotkey", '"ctrl++end"', "ctrl++end", "ctrl++end", "'ctrl++end'", "joined by +"),
    ("agent.stop_hotkey", '"ctrl+alt+end"', "ctrl+alt+end", "ctrl+alt+end", "'ctrl+alt+end'", "<ctrl>+<alt>+<end>"),
]


@pytest.mark.parametrize("key, text, _env, _py, shown, allowed", BAD, ids=[f"{c[0]}={c[1][:12]}" for c in BAD])
def test_a_bad_value_in_the_file_names_the_file_the_key_the_value_and_what_is_allowed(
    tmp_path, key, text, _env, _py, shown, allowed
):
    path = tmp_path / "settings.json"
    path.write_text(nested(key, text))
    with pytest.raises(SettingsFileError) as caught:
        load_settings(env={}, path=path)
    message = str(caught.value)
    assert str(path) in message and f"setting {key} = {shown} is not allowed" in message and allowed in message
    assert caught.value.path == path


ENV_CASES = [c for c in BAD if c[2] is not None]


@pytest.mark.parametrize("key, _text, env_text, _py, _shown, allowed", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_a_bad_environment_variable_names_the_variable_the_key_and_what_is_allowed(
    tmp_path, key, _text, env_text, _py, _shown, allowed
):
    from core.settings import ENV_NAMES

    with pytest.raises(ValueError) as caught:
        load_settings(env={ENV_NAMES[key]: env_text}, path=tmp_path / "none.json")
    message = str(caught.value)
    assert f"environment: {ENV_NAMES[key]}: setting {key} = " in message and allowed in message
    assert env_text.strip()[:40] in message


@pytest.mark.parametrize("key, _text, _env, value, shown, allowed", BAD, ids=[f"{c[0]}={c[1][:12]}" for c in BAD])
def test_a_bad_command_line_value_names_the_key_the_value_and_what_is_allowed(
    tmp_path, key, _text, _env, value, shown, allowed
):
    with pytest.raises(ValueError) as caught:
        load_settings({key: value}, env={}, path=tmp_path / "none.json")
    message = str(caught.value)
    assert message.startswith(f"command line: {key}: setting {key} = ") and allowed in message


def test_the_allowed_edges_are_accepted(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"temperature": 0, "top_p": 1, "top_k": 0, "context_tokens": 10_000_000,
                                "seed": 2**32 - 1, "msa": {"device": "cuda:12"}, "gguf": {"gpu_layers": -1}}))
    s = load_settings(env={"SPYGLASS_MAX_TOKENS": " 5 "}, path=path)
    assert (s.temperature, s.top_p, s.top_k, s.context_tokens, s.seed) == (0, 1, 0, 10_000_000, 2**32 - 1)
    assert (s.msa.device, s.max_tokens, s.gguf.gpu_layers) == ("cuda:12", 5, -1)


def test_the_agent_section_reads_from_the_file_and_the_environment(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"agent": {"max_steps": 1000, "monitor": 2}}))
    s = load_settings(env={"SPYGLASS_AGENT_STOP_HOTKEY": "<ctrl>+<alt>+q"}, path=path)
    assert (s.agent.max_steps, s.agent.monitor, s.agent.stop_hotkey) == (1000, 2, "<ctrl>+<alt>+q")
    assert Settings().agent.max_steps == 30 and Settings().agent.monitor == 0


def test_a_file_nested_a_hundred_thousand_deep_is_refused_with_its_name(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SettingsFileError, match="nested too deeply") as caught:
        load_settings(env={}, path=path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused_with_its_name(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"system_prompt": "caf\xe9"}')
    with pytest.raises(SettingsFileError, match="is not UTF-8 text") as caught:
        load_settings(env={}, path=path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        ('{"seed": ' + "9" * 5000 + "}", "cannot be read"),  # past Python's int-conversion limit
        ("[1, 2]", "must hold a JSON object, not list"),
        ('{"msa": "cpu"}', "'msa' must be an object of msa settings"),
        ('{"colour": "blue"}', "unknown settings colour"),
        ("", "cannot be read"),
    ],
    ids=["long-integer", "list", "section-string", "unknown", "empty"],
)
def test_other_malformed_files_are_refused_with_their_name(tmp_path, content, problem):
    path = tmp_path / "settings.json"
    path.write_text(content)
    with pytest.raises(SettingsFileError, match=problem) as caught:
        load_settings(env={}, path=path)
    assert str(path) in str(caught.value)


def test_a_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b'\xef\xbb\xbf{"max_tokens": 9}')
    assert load_settings(env={}, path=path).max_tokens == 9


def test_a_folder_at_the_settings_path_is_reported_on_load(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()
    with pytest.raises(SettingsFileError, match="is a folder") as caught:
        load_settings(env={}, path=path)
    assert str(path) in str(caught.value)


def test_saving_onto_a_folder_fails_clearly_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "settings.json"
    path.mkdir()
    with pytest.raises(SettingsFileError, match="is a folder") as caught:
        save_settings(Settings(max_tokens=5), path)
    assert str(path) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"] and list(path.iterdir()) == []


def test_a_bad_value_made_in_code_is_refused_too():
    with pytest.raises(ValueError, match=r"setting msa.device = 'potato' is not allowed; it must be cpu, cuda"):
        MsaSettings(device="potato")
    with pytest.raises(ValueError, match=r"setting top_p = 7 is not allowed"):
        Settings().with_values({"top_p": 7})
