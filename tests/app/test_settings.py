"""The settings dialog on a real window: it shows the settings in use, Save writes them to the
settings file and the next request uses them, and a change to how the model loads reloads it."""

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from core.settings import AgentSettings, MsaSettings, Settings, load_settings, settings_path

from tests.app.fake_engine import FakeEngine
from tests.app.test_window import send, wait_reply


def engines_made(make_window, settings):
    """A window whose engine maker records the settings of every load."""
    made = []

    def make(s):
        made.append((s, FakeEngine()))
        return made[-1][1]

    return make_window(settings=settings, make_engine=make), made


def save(qtbot, dialog):
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save),
                     Qt.MouseButton.LeftButton)


def test_dialog_shows_the_settings_in_use_and_cannot_pick_backends_that_are_coming(make_window, tmp_path):
    settings = Settings(model_dir=str(tmp_path / "m3"), data_dir=str(tmp_path / "d"), engine="msa",
                        msa=MsaSettings(device="cpu", dtype="fp32"), context_tokens=8192, max_tokens=333, temperature=0.4, top_k=20, system_prompt="Be brief.")
    window, _ = engines_made(make_window, settings)
    d = window.open_settings()
    assert d.isVisible() and d.isModal()
    assert (d.model_dir.text(), d.device.currentText(), d.dtype.currentData()) == (str(tmp_path / "m3"), "cpu", "fp32")
    assert (d.context.value(), d.max_tokens.value(), d.temperature.value(), d.top_k.value()) == (8192, 333, 0.4, 20)
    assert d.top_p.text() == "model default" and d.seed.text() == "random" and d.system.toPlainText() == "Be brief."
    model = d.backend.model()
    assert d.backend.currentData() == "msa" and model.item(d.backend.currentIndex()).isEnabled()
    listed = [(d.backend.itemData(i), d.backend.itemText(i), model.item(i).isEnabled()) for i in range(d.backend.count())]
    assert listed[0] == ("auto", "Automatic (from the model folder)", True)
    assert ("gguf", "GGUF file (llama.cpp)", True) in listed and ("remote", "Remote server (OpenAI-compatible)", True) in listed
    assert d.settings() == settings  # nothing edited: nothing changes
    d.reject()


def test_saved_settings_reach_the_file_the_next_request_and_the_model(make_window, qtbot, tmp_path):
    first = tmp_path / "m3-a"
    window, made = engines_made(make_window, Settings(model_dir=str(first), data_dir=str(tmp_path / "d")))
    d = window.open_settings()
    d.temperature.setValue(0.7)
    d.max_tokens.setValue(3)
    d.model_dir.setText(str(tmp_path / "m3-b"))
    save(qtbot, d)
    assert window.status.state == "loading"  # at once, not the old model's "ready"
    qtbot.waitUntil(lambda: len(made) == 2 and window.status.state == "ready", timeout=5000)
    assert made[0][1].closed and made[1][0].model_dir == str(tmp_path / "m3-b")
    assert window.status.label.text() == "Model ready: m3-b"
    stored = json.loads(settings_path().read_text())
    assert stored == {"model_dir": str(tmp_path / "m3-b"), "data_dir": str(tmp_path / "d"), "temperature": 0.7,
                      "max_tokens": 3}
    assert load_settings({}, env={"XDG_CONFIG_HOME": str(tmp_path / "config")}) == window.settings
    send(qtbot, window, "hi")
    wait_reply(qtbot, window)
    (options,) = made[1][1].options
    assert options.max_tokens == 3 and options.sampling.temperature == 0.7
    assert window.store.messages(window.store.conversations()[0].id)[-1].text == "Hello there, see "  # 3 tokens


def test_changing_device_or_dtype_reloads_the_model_and_other_changes_do_not(make_window, qtbot, tmp_path):
    window, made = engines_made(make_window, Settings(model_dir=str(tmp_path / "m"), data_dir=str(tmp_path / "d")))
    d = window.open_settings()
    d.seed.setValue(5)
    save(qtbot, d)
    qtbot.wait(200)
    assert len(made) == 1 and window.settings.seed == 5
    d = window.open_settings()
    d.device.setCurrentText("cpu")
    save(qtbot, d)
    qtbot.waitUntil(lambda: len(made) == 2 and window.status.state == "ready", timeout=5000)
    assert made[1][0].msa.device == "cpu" and made[0][1].closed
    d = window.open_settings()
    d.dtype.setCurrentIndex(d.dtype.findData("bf16"))
    save(qtbot, d)
    qtbot.waitUntil(lambda: len(made) == 3 and window.status.state == "ready", timeout=5000)
    assert (made[2][0].msa.device, made[2][0].msa.dtype) == ("cpu", "bf16") and made[1][1].closed
    assert json.loads(settings_path().read_text())["msa"]["dtype"] == "bf16"


def test_gguf_settings_are_edited_saved_and_reload_the_model(make_window, qtbot, tmp_path):
    window, made = engines_made(make_window, Settings(model_dir=str(tmp_path / "m.gguf"), data_dir=str(tmp_path / "d")))
    d = window.open_settings()
    assert (d.gpu_layers.text(), d.threads.text(), d.flash_attn.currentData()) == ("all", "automatic", None)
    assert (d.mmproj.text(), d.host_tensors.text()) == ("", "")
    d.threads.setValue(3)
    d.flash_attn.setCurrentIndex(d.flash_attn.findData(False))
    d.mmproj.setText(str(tmp_path / "mmproj-m.gguf"))
    d.host_tensors.setText(" ffn_.*_exps ")
    save(qtbot, d)
    qtbot.waitUntil(lambda: len(made) == 2 and window.status.state == "ready", timeout=5000)
    g = made[1][0].gguf
    assert (g.threads, g.flash_attn, g.mmproj, g.host_tensors) == (3, False, str(tmp_path / "mmproj-m.gguf"),
                                                                   "ffn_.*_exps")
    assert json.loads(settings_path().read_text())["gguf"] == {
        "threads": 3, "flash_attn": False, "mmproj": str(tmp_path / "mmproj-m.gguf"), "host_tensors": "ffn_.*_exps"}


def test_the_agent_rows_save_the_agent_section_and_a_chord_the_hotkey_cannot_use_is_refused(make_window, qtbot, tmp_path):
    window = make_window(settings=Settings(data_dir=str(tmp_path / "d")))
    d = window.open_settings()
    assert (d.agent_steps.value(), d.agent_monitor.text(), d.stop_hotkey.placeholderText()) == (
        30, "all monitors", "<ctrl>+<alt>+<end>")
    d.agent_steps.setValue(12)
    d.agent_monitor.setValue(2)
    d.stop_hotkey.setText("<ctrl>+<shift>+<f12>")
    save(qtbot, d)
    assert window.settings.agent == AgentSettings(max_steps=12, monitor=2, stop_hotkey="<ctrl>+<shift>+<f12>")
    assert json.loads(settings_path().read_text())["agent"] == {"max_steps": 12, "monitor": 2,
                                                                "stop_hotkey": "<ctrl>+<shift>+<f12>"}
    assert window.agent_panel.hotkey.text() == "Emergency stop: ctrl+shift+f12"
    d = window.open_settings()
    d.stop_hotkey.setText("<ctrl>+<alt>")
    save(qtbot, d)
    assert "needs exactly one key besides the modifiers" in window.statusBar().currentMessage()
    assert window.settings.agent.stop_hotkey == "<ctrl>+<shift>+<f12>"
