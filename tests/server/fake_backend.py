"""The fake engine as the backend "fake" for `.fake` files, whose JSON says how many words to say
and how slowly. Imported only by the load test's child process (the real `spyglass serve`
command), so the registry of the test processes stays as it is."""

import json
from pathlib import Path

from core.engine import Backend, register
from core.events import TextDelta

from .fake_engine import FakeEngine


def from_settings(settings):
    spec = json.loads(Path(settings.model_dir).read_text())
    words = spec.get("words", 8)
    script = lambda m, o: [TextDelta(f"w{i} ") for i in range(words)]  # noqa: E731
    return FakeEngine(script, delay=spec.get("delay", 0.0), context=10**9)


FAKE = register(
    Backend(
        "fake",
        "Fake (server tests)",
        "tests.server.fake_backend:from_settings",
        lambda path: "a .fake file" if path.suffix == ".fake" else None,
    )
)
