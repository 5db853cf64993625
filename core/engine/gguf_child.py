"""The GGUF engine's child process: llama.cpp lives here, so its aborts cannot end the app.

`main` runs in a process started by `core/engine/gguf.py` and answers requests on a pipe, one at
a time: ("count", messages, options) -> ("count", n); ("generate", messages, options) ->
("refused", why) for a prompt that does not fit, else ("started", prompt tokens) and batches
("events", [Event, ...]) gathered for up to 10 ms, the last ending with a `Finished`; ("close",)
ends the process. The prompt is the GGUF's
own chat template rendered in a sandbox (core/model/prompt.py), tokenized by the model's own
tokenizer. llama-cpp-python's `generate` keeps the longest prefix the new prompt shares with
the cached one, so the next turn evaluates only what is new; a prompt that starts with the last
prompt and reply, as text, starts with their exact tokens too (the reply as generated, not
re-tokenized), so that prefix is all cached. `cancel` (a shared Event) is
checked between tokens. Reply text is decoded token by token with an incremental UTF-8 decoder
(a character split across tokens is held until it completes), stop strings are held back until decided, and the model
family's tags become reasoning and tool-call events (core/model/stream.py).
"""

from __future__ import annotations

import codecs
import os
import time
from dataclasses import dataclass
from typing import Any

from core.events import Finished, LoadProgress, Usage
from core.messages import Message, template_messages
from core.model.prompt import ChatTemplate
from core.model.stream import StreamParser, partial_prefix_len, reply_format

from .options import GenerateOptions, SamplingParams

LOAD_STEPS = 2  # the file opened, the context made
BATCH_SECONDS = 0.01  # events go to the parent in batches: fewer wake-ups of a process sharing the cores


@dataclass(frozen=True)
class ChildParams:
    path: str
    context_tokens: int
    gpu_layers: int
    threads: int | None
    flash_attn: bool
    mmap: bool
    mlock: bool


def main(conn: Any, cancel: Any, params: ChildParams) -> None:
    """The child's loop; every failure becomes an ("error", message) reply, never a traceback."""
    try:
        model = _Model(params, conn)
    except (ValueError, RuntimeError, OSError) as err:
        conn.send(("error", f"llama.cpp cannot load {params.path}: {err}"))
        return
    conn.send(("loaded", model.describe()))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is gone
            return
        if request[0] == "close":
            return
        try:
            model.serve(request, cancel)
        except (ValueError, RuntimeError) as err:
            conn.send(("error", str(err)))


class _Model:
    def __init__(self, params: ChildParams, conn: Any) -> None:
        from llama_cpp import Llama

        self.params, self.conn = params, conn
        size = os.path.getsize(params.path)
        conn.send(("progress", LoadProgress(0, LOAD_STEPS, 0, size)))
        self.llm = Llama(
            model_path=params.path,
            n_ctx=params.context_tokens,
            n_gpu_layers=params.gpu_layers,
            n_threads=params.threads,
            flash_attn=params.flash_attn,
            use_mmap=params.mmap,
            use_mlock=params.mlock,
            verbose=False,
        )
        conn.send(("progress", LoadProgress(LOAD_STEPS, LOAD_STEPS, size, size)))
        source = self.llm.metadata.get("tokenizer.chat_template")
        if not source:
            raise ValueError("the file holds no chat template (tokenizer.chat_template)")
        self.template = ChatTemplate(source, f"{params.path} (tokenizer.chat_template)")
        self.format = reply_format(source)
        self.bos = self.llm.metadata.get("tokenizer.ggml.add_bos_token") == "true"
        self.defaults = SamplingParams(temperature=0.8, top_k=40, top_p=0.95)  # llama.cpp's own defaults
        # the last prompt and reply as text and as the exact tokens evaluated: a next turn that starts
        # with that text reuses those tokens, so the reply is never re-tokenized differently (and
        # evaluated again) just because its text tokenizes another way than it was generated
        self._last: tuple[str, list[int]] = ("", [])
        self.specials = {"bos_token": self._piece(self.llm.token_bos()), "eos_token": self._piece(self.llm.token_eos())}

    def _piece(self, token: int) -> str:
        return "" if token < 0 else self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def piece(self, token: int) -> bytes:
        """The token's bytes, special tokens included: tags such as <think> are special tokens, and
        the stream parser needs to see them."""
        return bytes(self.llm._model.detokenize([token], special=True))  # noqa: SLF001

    def is_end(self, token: int) -> bool:
        """An end-of-generation token of this vocabulary (end of sequence, end of turn, ...)."""
        import llama_cpp

        vocab = self.llm._model.vocab  # noqa: SLF001 - llama-cpp-python keeps the vocab handle here
        return bool(llama_cpp.llama_vocab_is_eog(vocab, token))

    def describe(self) -> dict:
        meta = self.llm.metadata
        return {
            "architecture": meta.get("general.architecture", "?"),
            "name": meta.get("general.name", ""),
            "context": self.llm.n_ctx(),
        }

    def serve(self, request: tuple, cancel: Any) -> None:
        kind, messages, options = request
        ids, text = self.prompt(messages, options)
        if kind == "count":
            self.conn.send(("count", len(ids)))
            return
        n_ctx = self.llm.n_ctx()
        if len(ids) >= n_ctx:
            self.conn.send(
                (
                    "refused",
                    f"the conversation needs {len(ids)} tokens of the {n_ctx}-token context "
                    "and leaves none for the reply; shorten it or raise the context",
                )
            )
            return
        self.conn.send(("started", len(ids)))
        batch: list = []
        last = time.monotonic()
        for event in self.generate(ids, text, options, cancel):
            batch.append(event)
            if isinstance(event, Finished) or time.monotonic() - last >= BATCH_SECONDS:
                self.conn.send(("events", batch))
                batch, last = [], time.monotonic()

    def prompt(self, messages: list[Message], options: GenerateOptions) -> tuple[list[int], str]:
        text = self.template.render(
            template_messages(messages),
            tools=list(options.tools) or None,
            **{**self.specials, **options.template_options},
        )
        last_text, last_ids = self._last
        if last_text and text.startswith(last_text):  # the previous turn as the model produced it
            rest = self.llm.tokenize(text[len(last_text) :].encode("utf-8"), add_bos=False, special=True)
            return last_ids + rest, text
        return self.llm.tokenize(text.encode("utf-8"), add_bos=self.bos, special=True), text

    def generate(self, ids: list[int], text: str, options: GenerateOptions, cancel: Any):
        n_ctx = self.llm.n_ctx()
        cached = _shared_prefix(self.llm, ids)
        p = options.sampling.resolved(self.defaults)
        if p.seed is not None:
            self.llm.set_seed(p.seed)
        parser = StreamParser(reasoning=text.rstrip().endswith(self.format.think_open), fmt=self.format)
        reply: list[int] = []
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # holds a character split across tokens
        decoded, shown, reason = "", 0, "length"
        greedy = not p.temperature  # top_k 1 is greedy too, and llama.cpp's sampler chain is shorter then
        stream = self.llm.generate(
            ids,
            top_k=1 if greedy else p.top_k or 0,
            top_p=p.top_p or 1.0,
            temp=p.temperature or 0.0,
            repeat_penalty=1.0,
            reset=True,
        )
        for token in stream:
            if cancel.is_set():
                reason = "cancelled"
                break
            if self.is_end(token):
                reason = "stop"
                break
            reply.append(token)
            decoded += utf8.decode(self.piece(token))
            cut = min(
                (i for i in (decoded.find(s, max(0, shown - len(s))) for s in options.stop) if i >= 0), default=-1
            )
            if cut >= 0:
                yield from parser.feed(decoded[shown:cut])
                shown, reason = cut, "stop_string"
                break
            ready = len(decoded) - partial_prefix_len(decoded, options.stop)
            yield from parser.feed(decoded[shown:ready])
            shown = ready
            if len(reply) >= options.max_tokens or len(ids) + len(reply) >= n_ctx:
                break
        decoded += utf8.decode(b"", final=True)
        if reason != "stop_string":
            yield from parser.feed(decoded[shown:])
        self._last = (text + decoded, ids + reply)
        yield from parser.feed("", final=True)
        yield Usage(len(ids), len(reply), cached)
        yield Finished(reason)


def _shared_prefix(llm: Any, ids: list[int]) -> int:
    """Prompt tokens already in llama.cpp's cache (what `generate` will not evaluate again)."""
    cached = list(llm.input_ids[: llm.n_tokens])
    n = 0
    for a, b in zip(cached, ids[:-1], strict=False):
        if a != b:
            break
        n += 1
    return n
