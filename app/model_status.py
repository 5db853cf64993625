"""The model's state in the status bar: none, loading with progress, ready, or failed with why.

With no model folder configured it says how to get one instead of an error; the window stays
usable for reading history.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from core.events import LoadProgress

from app.worker import EngineStatus

NO_MODEL = ("No model yet. Open Settings and choose a model folder (config.json, *.safetensors, "
            "tokenizer.json, chat_template.jinja), or start with spyglass --model DIR.")
HOW_TO_GET_A_MODEL = """
<h2>Welcome to Spyglass</h2>
<p>Spyglass runs a vision-language model on this computer. There is no model yet, so you can
read past conversations but not chat.</p>
<p><b>To get one:</b></p>
<ol>
<li>Download a MiniMax-M3 model folder (it holds <code>config.json</code>, the
<code>*.safetensors</code> weights, <code>tokenizer.json</code> and <code>chat_template.jinja</code>),
for example with <code>huggingface-cli download &lt;repo&gt; --local-dir ~/models/m3</code>.</li>
<li>Open <b>Settings</b> (Ctrl+,) and choose that folder, or start Spyglass with
<code>spyglass --model ~/models/m3</code> or <code>SPYGLASS_MODEL=~/models/m3</code>.</li>
</ol>
<p>It loads on an NVIDIA GPU when there is one, otherwise on the CPU (slow; fine for small models).</p>
"""


class ModelStatus(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label, self.bar = QLabel(NO_MODEL), QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setVisible(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.bar)
        self.state = "none"

    def show_status(self, status: EngineStatus) -> None:
        self.state = status.state
        name = Path(status.detail).name if status.state in ("loading", "ready") else status.detail
        text = {"none": NO_MODEL, "loading": f"Loading {name}…", "ready": f"Model ready: {name}",
                "failed": f"Model failed: {status.detail}", "closed": "Model closed"}[status.state]
        self.label.setText(text)
        self.label.setToolTip(status.detail)
        self.label.setStyleSheet("color:#b91c1c" if status.state == "failed" else "")
        self.bar.setVisible(status.state == "loading")
        if status.state == "loading":
            self.bar.setRange(0, 0)

    def show_progress(self, progress: LoadProgress) -> None:
        self.bar.setRange(0, progress.total)
        self.bar.setValue(progress.step)
        self.bar.setFormat(f"{progress.step}/{progress.total} · {progress.bytes_done / 1e9:.2f} GB")
