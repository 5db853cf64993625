"""The GGUF engine's child process: llama.cpp lives here, so its aborts cannot end the app.

`main` runs in a process started by `core/engine/gguf.py` and answers requests on a pipe, one at
a time: ("count", messages, options) -> ("count", n); ("generate", messages, options) ->
("refused", why) for a prompt that does not fit, else ("started", prompt tokens) and a stream of
("event", Event) ending with a `Finished`; ("close",) ends the process. The prompt is the GGUF's
own chat template rendered in a sandbox (core/model/prompt.py), tokenized by the model's own
tokenizer. llama-cpp-python's `generate` keeps the longest prefix the new prompt shares with
the cached one, so the next turn evaluates only what is new. `cancel` (a shared Event) is
checked between tokens. Reply text is decoded from all reply tokens at once (so a character
split across tokens is never cut), stop strings are held back until decided, and the model
family's tags become reasoning and tool-call events (core/model/stream.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from core.events import Finished, LoadProgress, Usage
from core.messages import Message, template_messages
from core.model.prompt import ChatTemplate
from core.model.stream import StreamParser, partial_prefix_len, reply_format

from .options import GenerateOptions, SamplingParams

LOAD_STEPS = 2  # the file opened, the context made


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
        self.specials = {"bos_token": self._piece(self.llm.token_bos()), "eos_token": self._piece(self.llm.token_eos())}

    def _piece(self, token: int) -> str:
        return "" if token < 0 else self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

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
        for event in self.generate(ids, text, options, cancel):
            self.conn.send(("event", event))

    def prompt(self, messages: list[Message], options: GenerateOptions) -> tuple[list[int], str]:
        text = self.template.render(
            template_messages(messages),
            tools=list(options.tools) or None,
            **{**self.specials, **options.template_options},
        )
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=self.bos, special=True)
        return ids, text

    def generate(self, ids: list[int], text: str, options: GenerateOptions, cancel: Any):
        n_ctx = self.llm.n_ctx()
        cached = _shared_prefix(self.llm, ids)
        p = options.sampling.resolved(self.defaults)
        if p.seed is not None:
            self.llm.set_seed(p.seed)
        parser = StreamParser(reasoning=text.rstrip().endswith(self.format.think_open), fmt=self.format)
        reply: list[int] = []
        shown, reason = 0, "length"
        stream = self.llm.generate(
            ids, top_k=p.top_k or 0, top_p=p.top_p or 1.0, temp=p.temperature or 0.0, repeat_penalty=1.0, reset=True
        )
        for token in stream:
            if cancel.is_set():
                reason = "cancelled"
                break
            if self.is_end(token):
                reason = "stop"
                break
            reply.append(token)
            decoded = _decode(self.llm, reply)
            cut = min((decoded.find(s) for s in options.stop if s in decoded), default=-1)
            if cut >= 0:
                yield from parser.feed(decoded[shown:cut])
                shown, reason = cut, "stop_string"
                break
            ready = len(decoded) - partial_prefix_len(decoded, options.stop)
            yield from parser.feed(decoded[shown:ready])
            shown = ready
            if len(reply) >= options.max_tokens or len(ids) + len(reply) >= n_ctx:
                break
        if reason != "stop_string":
            yield from parser.feed(_decode(self.llm, reply)[shown:])
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


def _decode(llm: Any, tokens: list[int]) -> str:
    """The text of `tokens`, an unfinished UTF-8 character at the end left out until it completes."""
    data = llm.detokenize(tokens, special=True)  # tags such as <think> are special tokens: the parser needs them
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")
