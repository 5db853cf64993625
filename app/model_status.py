"""The model's state in the status bar: none, loading with progress, ready, or failed with why.

With no model folder configured it says how to get one instead of an error; the window stays
usable for reading history.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from core.events import LoadProgress

from app.models_dialog import LINK_GET_MODEL, LINK_OPEN_GGUF
from app.worker import EngineStatus

NO_MODEL = ("No model yet. Get a small one (Spyglass ▸ Get a model…), open a .gguf file, or choose a model folder "
            "in Settings (a MiniMax-M3 folder, or start with spyglass --model DIR).")
HOW_TO_GET_A_MODEL = f"""
<h2>Welcome to Spyglass</h2>
<p>Spyglass runs a vision-language model on this computer. There is no model yet, so you can
read past conversations but not chat.</p>
<p><b>To get one:</b></p>
<ul>
<li><a href="{LINK_GET_MODEL}">Get a small model</a>: download one of a few small vision models
(from about 280 MB) that run on a laptop's CPU. Each one's size and licence is shown before you download;
its vision projector is downloaded beside it, so it reads your images and videos.</li>
<li><a href="{LINK_OPEN_GGUF}">Open a .gguf file</a> you already have.</li>
<li>With an NVIDIA GPU: a MiniMax-M3 model folder (<code>config.json</code>, the <code>*.safetensors</code>
weights, <code>tokenizer.json</code>, <code>chat_template.jinja</code>); choose it in <b>Settings</b> (Ctrl+,)
or start with <code>spyglass --model ~/models/m3</code>.</li>
</ul>
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
