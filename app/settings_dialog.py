"""Settings: the backend, the model folder and generation parameters, saved to the settings file.

The backends are the registry's (core.engine.backends()), with "auto" first: chosen from what
the model folder holds. Backends announced as coming are listed but cannot be selected. The
device and the weights' dtype (the MSA section) are part of how the model is loaded, so changing
them (like the folder, backend or context) reloads it. Values set by the environment or the
command line win over the file (core/settings.py), so the dialog names any that will override
what is saved here. A remote server is its URL, its API key (a password field saved through
core/secrets to the OS keyring or a private file when the dialog is saved, never to settings.json)
and its model, an editable list that "Test connection" fills from the server's /v1/models on a
pool thread (app/tasks.py), showing the models or the error without blocking the window. The
agent's rows (its step cap, its monitor, its emergency-stop keys) apply from the next task on; the
keys are checked here as the hotkey module reads them, so a chord it cannot use is never saved.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QSpinBox, QWidget)

from core.desktop.hotkey import DEFAULT_COMBO, parse_combo
from core.engine import AUTO, backends
from core.secrets import get_api_key, set_api_key
from core.settings import Settings

from app.tasks import TaskRunner

DEVICES = ("auto", "cuda", "cpu")
FLASH_CHOICES = (("automatic (on)", None), ("on", True), ("off", False))
DTYPE_CHOICES = (("auto (bf16 on CUDA, else fp32)", None), ("bf16", "bf16"), ("fp32", "fp32"))


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, overridden: tuple[str, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Spyglass settings")
        self.base = settings
        form = QFormLayout(self)
        self.backend = QComboBox()
        self.backend.addItem("Automatic (from the model folder)", AUTO)
        model: QStandardItemModel = self.backend.model()
        for backend in backends():
            self.backend.addItem(backend.label, backend.name)
            model.item(self.backend.count() - 1).setEnabled(not backend.coming)
        self.backend.setCurrentIndex(max(0, self.backend.findData(settings.engine)))
        self.model_dir = QLineEdit(settings.model_dir or "", placeholderText="folder with config.json and weights")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.model_dir, 1)
        folder_row.addWidget(browse)
        self.device = QComboBox(editable=True, toolTip="auto: cuda when there is a GPU, else cpu")
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.msa.device or "auto")
        self.dtype = QComboBox()
        for label, value in DTYPE_CHOICES:
            self.dtype.addItem(label, value)
        self.dtype.setCurrentIndex(max(0, self.dtype.findData(settings.msa.dtype)))
        g = settings.gguf
        self.gpu_layers = QSpinBox(minimum=-1, maximum=1000, value=g.gpu_layers, specialValueText="all",
                                   toolTip="GGUF: layers on the GPU (0: none; CPU builds ignore it)")
        self.threads = QSpinBox(minimum=0, maximum=512, value=g.threads or 0, specialValueText="automatic",
                                toolTip="GGUF: CPU threads")
        self.flash_attn = QComboBox(toolTip="GGUF: MiniMax-M3's sparse attention needs flash attention")
        for label, value in FLASH_CHOICES:
            self.flash_attn.addItem(label, value)
        self.flash_attn.setCurrentIndex(max(0, self.flash_attn.findData(g.flash_attn)))
        self.mmproj = QLineEdit(g.mmproj or "", placeholderText="the mmproj*.gguf beside the model",
                                toolTip="GGUF: the vision projector file that lets the model read images")
        self.host_tensors = QLineEdit(g.host_tensors or "", placeholderText="none, e.g. ffn_.*_exps",
                                      toolTip="GGUF: tensors kept in host memory (comma-separated patterns); "
                                              "ffn_.*_exps keeps MoE experts on the CPU")
        r = settings.remote
        self.remote_url = QLineEdit(r.base_url or "", placeholderText="http://host:8000/v1",
                                    toolTip="Remote: the OpenAI-compatible server (vLLM, SGLang, llama.cpp, Spyglass)")
        self.stored_key = self._stored_key(r.base_url)
        self.api_key = QLineEdit(self.stored_key, echoMode=QLineEdit.EchoMode.Password, placeholderText="none",
                                 toolTip="Remote: kept in the system keyring (or a file only you can read), "
                                         "never in settings.json")
        self.remote_model = QComboBox(editable=True, toolTip="Remote: empty means the server's only model")
        self.remote_model.setCurrentText(r.model or "")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("", wordWrap=True)
        self.tasks = TaskRunner(self)
        model_row = QHBoxLayout()
        model_row.addWidget(self.remote_model, 1)
        model_row.addWidget(self.test_button)
        self.context = QSpinBox(minimum=256, maximum=1 << 20, singleStep=1024, value=settings.context_tokens)
        self.max_tokens = QSpinBox(minimum=1, maximum=1 << 17, value=settings.max_tokens)
        self.temperature = self._optional_float(settings.temperature, 0.0, 2.0)
        self.top_p = self._optional_float(settings.top_p, 0.0, 1.0)
        self.top_k = QSpinBox(minimum=-1, maximum=10000, value=-1 if settings.top_k is None else settings.top_k,
                              specialValueText="model default")
        self.seed = QSpinBox(minimum=-1, maximum=2**31 - 1, value=-1 if settings.seed is None else settings.seed,
                             specialValueText="random")
        self.think = QCheckBox("Let the model reason before answering")
        self.think.setChecked(bool(settings.think))
        self.system = QPlainTextEdit(settings.system_prompt)
        self.system.setMaximumHeight(80)
        a = settings.agent
        self.agent_steps = QSpinBox(minimum=1, maximum=1000, value=a.max_steps,
                                    toolTip="Agent: the most steps one task may take")
        self.agent_monitor = QSpinBox(minimum=0, maximum=64, value=a.monitor, specialValueText="all monitors",
                                      toolTip="Agent: the monitor it sees and acts on (1 is the first)")
        self.stop_hotkey = QLineEdit(a.stop_hotkey or "", placeholderText=DEFAULT_COMBO,
                                     toolTip="Agent: keys that stop a task at once, whichever window has the focus")
        for label, widget in (("Backend", self.backend), ("Model folder", folder_row), ("Device", self.device),
                              ("Weights", self.dtype), ("GGUF GPU layers", self.gpu_layers),
                              ("GGUF threads", self.threads), ("GGUF flash attention", self.flash_attn),
                              ("GGUF projector", self.mmproj), ("GGUF host-memory tensors", self.host_tensors),
                              ("Server URL", self.remote_url), ("Server API key", self.api_key),
                              ("Server model", model_row), ("", self.test_result),
                              ("Context tokens", self.context),
                              ("Longest reply", self.max_tokens), ("Temperature", self.temperature),
                              ("Top-p", self.top_p), ("Top-k", self.top_k), ("Seed", self.seed), ("", self.think),
                              ("System message", self.system), ("Agent step cap", self.agent_steps),
                              ("Agent monitor", self.agent_monitor), ("Agent emergency stop", self.stop_hotkey)):
            form.addRow(label, widget)
        if overridden:
            form.addRow(QLabel("Set by the environment or command line, which win over this dialog: "
                               + ", ".join(overridden), wordWrap=True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _optional_float(value: float | None, low: float, high: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox(minimum=low - 0.01, maximum=high, singleStep=0.05, decimals=2,
                             specialValueText="model default")
        box.setValue(low - 0.01 if value is None else value)
        return box

    @staticmethod
    def _stored_key(url: str | None) -> str:
        try:
            return (get_api_key(url) or "") if url else ""
        except OSError:
            return ""  # an unreadable key file: the field starts empty and a save writes a new one

    def test_connection(self) -> None:
        """List the server's models off the UI thread; the result lands in the model list."""
        from core.engine.remote import list_models  # the openai client loads only when a server is used

        url, key = self.remote_url.text().strip(), self.api_key.text().strip() or None
        remote = replace(self.base.remote, retries=0)
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Asking {url} for its models…")
        self.tasks.run_task(lambda: list_models(remote, key, url), self._models_listed, self._connection_failed)

    def _models_listed(self, models: list[str]) -> None:
        self.test_button.setEnabled(True)
        chosen = self.remote_model.currentText()
        self.remote_model.clear()
        self.remote_model.addItems(models)
        self.remote_model.setCurrentText(chosen or (models[0] if len(models) == 1 else ""))
        self.test_result.setText(f"Connected: {len(models)} model{'s' * (len(models) != 1)}: {', '.join(models)}")

    def _connection_failed(self, message: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(f"Connection failed: {message}")

    def accept(self) -> None:
        """Store an edited API key (for the URL shown) before the dialog closes as saved."""
        url, key = self.remote_url.text().strip(), self.api_key.text().strip()
        if url and key != self.stored_key:
            try:
                set_api_key(url, key)
            except OSError as err:
                self.test_result.setText(f"The API key could not be stored: {err}")
                return
            self.stored_key = key
        super().accept()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", self.model_dir.text())
        if folder:
            self.model_dir.setText(folder)

    def settings(self) -> Settings:
        """The settings as edited (raises ValueError for an invalid combination)."""
        def optional(box: QDoubleSpinBox) -> float | None:
            return None if box.value() < box.minimum() + 0.005 else round(box.value(), 2)

        device = self.device.currentText().strip()
        msa = replace(self.base.msa, device=None if device in ("", "auto") else device, dtype=self.dtype.currentData())
        gguf = replace(self.base.gguf, gpu_layers=self.gpu_layers.value(), threads=self.threads.value() or None,
                       flash_attn=self.flash_attn.currentData(), mmproj=self.mmproj.text().strip() or None,
                       host_tensors=self.host_tensors.text().strip() or None)
        remote = replace(self.base.remote, base_url=self.remote_url.text().strip() or None,
                         model=self.remote_model.currentText().strip() or None)
        combo = self.stop_hotkey.text().strip() or None
        if combo is not None:
            parse_combo(combo)  # a ValueError that says what is wrong with the chord
        agent = replace(self.base.agent, max_steps=self.agent_steps.value(), monitor=self.agent_monitor.value(),
                        stop_hotkey=combo)
        return replace(self.base, engine=self.backend.currentData(), model_dir=self.model_dir.text().strip() or None,
                       gguf=gguf, remote=remote, agent=agent,
                       msa=msa, context_tokens=self.context.value(), max_tokens=self.max_tokens.value(),
                       temperature=optional(self.temperature), top_p=optional(self.top_p) or None,
                       top_k=None if self.top_k.value() < 0 else self.top_k.value(),
                       seed=None if self.seed.value() < 0 else self.seed.value(),
                       think=self.think.isChecked() or None, system_prompt=self.system.toPlainText())
