"""A scripted engine for the server tests, behind the Engine protocol like any backend.

Its reply is a list of events from `script(messages, options)` (by default the words of
"echo: <the last message's text>", one per token), followed by `Usage` and `Finished`; it
honours `max_tokens` (then `length`), sleeps `delay` seconds per token, stops at the next token
after `cancel()`, and records every request and every cancel. `fake_backend.py` registers it as
a backend for the load test's child process.
"""

import threading
import time

from core.engine import EngineInfo
from core.engine.protocol import ContextTooLongError
from core.events import Finished, TextDelta, Usage


def echo_words(messages, options):
    text = "".join(getattr(p, "text", "") for p in messages[-1].parts)
    return [TextDelta(w + " ") for w in ("echo: " + text).split()]


class FakeEngine:
    def __init__(self, script=echo_words, *, delay=0.0, name="fake-model", context=4096, fail=None):
        self.script, self.delay, self.name, self.context, self.fail = script, delay, name, context, fail
        self.state, self.error = "idle", None
        self.requests, self.cancels, self.finished = [], 0, []
        self._cancel = threading.Event()
        self.generating = threading.Event()

    def load(self, on_progress=None):
        self.state = "ready"

    def info(self):
        return EngineInfo("fake", self.name, self.context, None)

    def count_tokens(self, messages, options=None):
        return sum(len(getattr(p, "text", "").split()) for m in messages for p in m.parts)

    def generate(self, messages, options):
        if self.fail is not None:  # raised at the call, as real engines refuse a prompt
            raise self.fail
        if self.count_tokens(messages) > self.context:
            raise ContextTooLongError(
                f"the prompt has {self.count_tokens(messages)} tokens, the context {self.context}"
            )
        self.requests.append((messages, options))
        self._cancel.clear()
        return self._stream(self.script(messages, options), options, self.count_tokens(messages))

    def _stream(self, events, options, prompt):
        """The script's events, then usage and the finish; a Finished in the script ends it there."""
        self.generating.set()
        n, end = 0, Finished("stop")
        try:
            for event in events:
                if isinstance(event, Finished):
                    end = event
                    break
                if self._cancel.is_set() or n == options.max_tokens:
                    end = Finished("cancelled" if self._cancel.is_set() else "length")
                    break
                time.sleep(self.delay)
                n += 1
                yield event
            yield Usage(prompt, n, cached_tokens=1)
            yield end
            self.finished.append(end.reason)
        finally:
            self.generating.clear()

    def cancel(self):
        self.cancels += 1
        self._cancel.set()

    def close(self):
        self.state = "closed"
