"""A second engine in ten lines, to show what adding a backend takes: one module, one entry.

It answers with the last message's text; `.echo` files are its "models". The CLI and the window
reach it through the registry like any backend (tests/test_engine_registry.py,
tests/app/test_registry_window.py, tests/app/test_torchless.py).
"""

from core.engine import Backend, EngineInfo, register
from core.events import Finished, TextDelta


class EchoEngine:
    def __init__(self, settings): self.settings, self.state, self.error = settings, "idle", None
    def load(self, on_progress=None): self.state = "ready"
    def info(self): return EngineInfo("echo", "echo", self.settings.context_tokens, None)
    def count_tokens(self, messages, options=None): return sum(len(p.text.split()) for m in messages for p in m.parts)
    def generate(self, messages, options=None):
        return iter([TextDelta("echo: " + " | ".join(p.text for p in messages[-1].parts)), Finished("stop")])
    def cancel(self): pass
    def close(self): self.state = "closed"


ECHO = register(Backend("echo", "Echo (an example)", "tests.echo_engine:EchoEngine",
                        lambda path: "an .echo file" if path.suffix == ".echo" else None))
