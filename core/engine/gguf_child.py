"""The GGUF engine's child process: llama.cpp lives here, so its aborts cannot end the app.

`main` runs in a process started by `core/engine/gguf.py` and answers requests on a pipe, one at
a time: ("count", messages, options) -> ("count", n); ("generate", messages, options) -> ("refused", why)
for a prompt that does not fit, else ("started", prompt tokens) and batches ("events", [Event,
...]) gathered for up to 10 ms, the last ending with a `Finished`; ("close",) ends the process.
Loading reports ("progress", LoadProgress) from llama.cpp's own progress callback, then
("loaded", description). A second pipe, served by a thread of its own so that it answers while a
reply streams, takes media plans: (frames, height, width) -> ("plan", tokens) for an image
(frames 0) or a video. The prompt is the GGUF's own chat template rendered in a sandbox
(core/model/prompt.py), tokenized by the model's own tokenizer; images and video frames go
through the projector (`gguf_media.py`). The next turn evaluates only what is new: a prompt that
starts with the last prompt and reply, as text, starts with their exact tokens (the reply as
generated, not re-tokenized) and their images, and the longest prefix shared with the cache is
kept. `cancel` (a shared Event) is checked between tokens and between images. Reply text is
decoded token by token with an incremental UTF-8 decoder (a character split across tokens is
held until it completes), stop strings are held back until decided, and the model family's tags
become reasoning and tool-call events (core/model/stream.py).

llama-cpp-python 0.3.36 offers no load progress and binds `tensor_buft_overrides` as unused, so
both are set here on the model parameters `Llama` builds (`_model_params`), and llama.cpp's log
is captured (`_Log`) to name the reason when it refuses a file and to count the tensors an
override pattern kept in host memory.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.events import Finished, LoadProgress, Usage
from core.messages import Message, template_messages
from core.model.prompt import ChatTemplate
from core.model.stream import StreamParser, partial_prefix_len, reply_format

from .gguf_media import Projector, Unit, frame_keys
from .options import GenerateOptions, SamplingParams

LOAD_STEPS = 100  # llama.cpp's progress over the file to 90, the context 95, the projector 100
BATCH_SECONDS = 0.01  # events go to the parent in batches: fewer wake-ups of a process sharing the cores
OVERRIDDEN = "buffer type overridden to"


@dataclass(frozen=True)
class ChildParams:
    path: str
    context_tokens: int
    gpu_layers: int
    threads: int | None
    flash_attn: bool
    mmap: bool
    mlock: bool
    projector: str | None = None
    host_tensors: tuple[str, ...] = ()  # regular expressions of tensor names kept in host memory


def main(conn: Any, plans: Any, cancel: Any, params: ChildParams) -> None:
    """The child's loop; every failure becomes an ("error", message) reply, never a traceback."""
    log = _Log()
    try:
        model = _Model(params, conn, log)
    except (ValueError, RuntimeError, OSError) as err:
        conn.send(("error", f"llama.cpp cannot load {params.path}: {err}"))
        return
    threading.Thread(target=_serve_plans, args=(plans, model), name="media plans", daemon=True).start()
    conn.send(("loaded", model.describe()))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is gone
            return
        if request[0] == "close":
            model.close()
            return
        try:
            model.serve(request, cancel)
        except (ValueError, RuntimeError) as err:
            conn.send(("error", str(err)))


def _serve_plans(plans: Any, model: _Model) -> None:
    """Media plans, while the main thread may be decoding: llama.cpp's tokenizers only read the
    model and the projector (its own server tokenizes on other threads the same way)."""
    while True:
        try:
            frames, height, width = plans.recv()
        except (EOFError, OSError):
            return
        try:
            plans.send(("plan", model.media_tokens(frames, height, width)))
        except (ValueError, RuntimeError) as err:
            plans.send(("error", str(err)))


class _Log:
    """llama.cpp's and mtmd's log lines, kept rather than printed: the last error names why a file
    was refused, and override lines count the tensors kept in host memory."""

    def __init__(self) -> None:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        self.errors: deque[str] = deque(maxlen=8)
        self.overridden = 0

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, _user: Any) -> None:
            line = text.decode("utf-8", errors="replace").strip()
            if level == 4 and line:  # GGML_LOG_LEVEL_ERROR
                self.errors.append(line)
            elif OVERRIDDEN in line:
                self.overridden += 1

        self._callback = callback  # kept alive as long as llama.cpp may call it
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        mtmd.mtmd_log_set(callback, ctypes.c_void_p(0))

    def reason(self) -> str:
        """What llama.cpp logged as errors, without function names and repeated framing."""
        lines: list[str] = []
        for line in self.errors:
            line = re.sub(r"^((\w+|error loading model( \w+)?): )+", "", line)
            if line not in lines:
                lines.append(line)
        telling = [line for line in lines if not line.startswith("failed to load model")]  # framing only
        return "; ".join(telling or lines) or "llama.cpp logged no reason"


class _Override(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]  # llama_model_tensor_buft_override


@contextlib.contextmanager
def _model_params(on_progress: Callable[[float], None], host_tensors: tuple[str, ...]) -> Iterator[None]:
    """While `Llama` is made: its model parameters carry a progress callback and the overrides."""
    import llama_cpp.llama_cpp as lc

    original = lc.llama_model_default_params
    keep: list = []

    def with_ours() -> Any:
        params = original()

        def progress(value: float, _user: Any) -> bool:
            on_progress(float(value))
            return True  # go on loading

        callback = lc.llama_progress_callback(progress)
        keep.append(callback)
        params.progress_callback = callback
        if host_tensors:
            from llama_cpp._ggml import libggml

            libggml.ggml_backend_cpu_buffer_type.restype = ctypes.c_void_p
            cpu = libggml.ggml_backend_cpu_buffer_type()
            rows = (_Override * (len(host_tensors) + 1))()  # ends with a NULL pattern
            for row, pattern in zip(rows, host_tensors, strict=False):
                row.pattern, row.buft = pattern.encode("utf-8"), cpu
            keep.append(rows)
            params.tensor_buft_overrides = ctypes.cast(rows, ctypes.c_void_p)
        return params

    lc.llama_model_default_params = with_ours
    try:
        yield
    finally:
        lc.llama_model_default_params = original


@dataclass
class _Prompt:
    """A rendered prompt: `ids` is its token sequence (images as sentinel runs, see gguf_media.py);
    `ids[:reused]` are the last turn's, exactly as evaluated, and `units` the rest, in order."""

    text: str  # as rendered, with one marker per image or video
    ids: list[int]
    reused: int
    units: list[Unit]
    media: tuple[tuple[str, ...], ...]  # `frame_keys` of the prompt's images and videos, in order
    cells: int  # cache cells the prompt takes
    chunks: Any = None  # the mtmd chunk list owning the image units

    @property
    def has_media(self) -> bool:
        return bool(self.media)


class _Model:
    def __init__(self, params: ChildParams, conn: Any, log: _Log) -> None:
        from llama_cpp import Llama

        self.params, self.conn, self.log = params, conn, log
        size = os.path.getsize(params.path)
        sent = [-1]

        def progress(value: float) -> None:
            step = min(90, int(value * 90))
            if step != sent[0]:
                sent[0] = step
                conn.send(("progress", LoadProgress(step, LOAD_STEPS, int(size * min(value, 1.0)), size)))

        progress(0.0)
        log.errors.clear()
        try:
            with _model_params(progress, params.host_tensors):
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
        except ValueError as err:
            raise ValueError(log.reason() if log.errors else str(err)) from None
        conn.send(("progress", LoadProgress(95, LOAD_STEPS, size, size)))
        source = self.llm.metadata.get("tokenizer.chat_template")
        if not source:
            raise ValueError("the file holds no chat template (tokenizer.chat_template)")
        self.template = ChatTemplate(source, f"{params.path} (tokenizer.chat_template)")
        self.format = reply_format(source)
        self.bos = self.llm.metadata.get("tokenizer.ggml.add_bos_token") == "true"
        self.defaults = SamplingParams(temperature=0.8, top_k=40, top_p=0.95)  # llama.cpp's own defaults
        self.vision: Projector | None = None
        if params.projector:
            log.errors.clear()
            self.vision = Projector(
                self.llm,
                params.projector,
                threads=params.threads,
                flash_attn=params.flash_attn,
                gpu=params.gpu_layers != 0,
                why=log.reason,
            )
        conn.send(("progress", LoadProgress(LOAD_STEPS, LOAD_STEPS, size, size)))
        # the last prompt and reply as text, token sequence and media: a next turn that starts with
        # that text and media reuses those tokens, so the reply is never re-tokenized differently
        # (and evaluated again) just because its text tokenizes another way than it was generated
        self._last: tuple[str, list[int], tuple[tuple[str, ...], ...]] = ("", [], ())
        self._pieces: dict[int, bytes] = {}
        self._ends: dict[int, bool] = {}
        self.specials = {"bos_token": self._piece(self.llm.token_bos()), "eos_token": self._piece(self.llm.token_eos())}

    def close(self) -> None:
        if self.vision is not None:
            self.vision.close()  # before the model it was made over
        self.llm.close()

    def _piece(self, token: int) -> str:
        return "" if token < 0 else self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def piece(self, token: int) -> bytes:
        """The token's bytes, special tokens included: tags such as <think> are special tokens, and
        the stream parser needs to see them. Kept per token: the reply loop asks for each one."""
        found = self._pieces.get(token)
        if found is None:
            found = self._pieces[token] = bytes(self.llm._model.detokenize([token], special=True))  # noqa: SLF001
        return found

    def is_end(self, token: int) -> bool:
        """An end-of-generation token of this vocabulary (end of sequence, end of turn, ...)."""
        found = self._ends.get(token)
        if found is None:
            import llama_cpp

            vocab = self.llm._model.vocab  # noqa: SLF001 - llama-cpp-python keeps the vocab handle here
            found = self._ends[token] = bool(llama_cpp.llama_vocab_is_eog(vocab, token))
        return found

    def describe(self) -> dict:
        meta = self.llm.metadata
        return {
            "architecture": meta.get("general.architecture", "?"),
            "name": meta.get("general.name", ""),
            "context": self.llm.n_ctx(),
            "vision": self.vision is not None,
            "host_tensors": self.log.overridden,
        }

    def serve(self, request: tuple, cancel: Any) -> None:
        kind, messages, options = request
        prompt = self.prompt(messages, options)
        try:
            if kind == "count":
                self.conn.send(("count", prompt.cells))
                return
            n_ctx = self.llm.n_ctx()
            if prompt.cells >= n_ctx:
                self.conn.send(
                    (
                        "refused",
                        f"the conversation needs {prompt.cells} tokens of the {n_ctx}-token context "
                        "and leaves none for the reply; shorten it or raise the context",
                    )
                )
                return
            self.conn.send(("started", prompt.cells))
            batch: list = []
            last = time.monotonic()
            for event in self.generate(prompt, options, cancel):
                batch.append(event)
                if isinstance(event, Finished) or time.monotonic() - last >= BATCH_SECONDS:
                    self.conn.send(("events", batch))
                    batch, last = [], time.monotonic()
        finally:
            if self.vision is not None:
                self.vision.free(prompt.chunks)

    def media_tokens(self, frames: int, height: int, width: int) -> int:
        """Tokens an image (`frames` 0) or a video of `frames` frames of this size costs."""
        if self.vision is None:
            raise ValueError("the model has no vision projector")
        image = self.vision.image_tokens(height, width)
        if frames == 0:
            return image
        stamp = len(self.llm.tokenize(b"[59m59.99s]", add_bos=False, special=False))  # the longest stamp
        return frames * (image + stamp)

    def prompt(self, messages: list[Message], options: GenerateOptions) -> _Prompt:
        media: list = []
        rendered = template_messages(messages, media)
        if media and self.vision is None:
            raise ValueError(
                f"the conversation holds {len(media)} image(s) or video(s), but {os.path.basename(self.params.path)} "
                "has no vision projector: put its mmproj-*.gguf beside it, or choose one (gguf.mmproj)"
            )
        text = self.template.render(
            rendered, tools=list(options.tools) or None, **{**self.specials, **options.template_options}
        )
        keys = tuple(frame_keys(p) for p in media)
        last_text, last_ids, last_media = self._last
        if (
            last_text
            and text.startswith(last_text)
            and keys[: len(last_media)] == last_media
            and (not last_media or self._cached(last_ids))
        ):
            # the previous turn as the model produced it, then what is new
            prefix, rest, rest_media, first = last_ids, text[len(last_text) :], media[len(last_media) :], False
        else:
            prefix, rest, rest_media, first = [], text, media, True
        chunks = None
        if rest_media:
            assert self.vision is not None
            units, chunks = self.vision.tokenize(
                rest, rest_media, list(keys[len(keys) - len(rest_media) :]), add_special=first and self.bos
            )
        else:
            ids = self.llm.tokenize(rest.encode("utf-8"), add_bos=first and self.bos, special=True)
            units = [Unit(ids, None, len(ids))]
        ids = prefix + [i for u in units for i in u.ids]
        cells = len(prefix) + sum(u.cells for u in units)
        return _Prompt(text, ids, len(prefix), units, keys, cells, chunks)

    def evaluate(self, prompt: _Prompt, cancel: Any) -> int | None:
        """Bring the cache to `prompt`, keeping the longest prefix it shares with what is cached but
        evaluating at least the last token (for its logits); the tokens kept, or None if cancelled."""
        llm = self.llm
        have = llm.input_ids[: llm.n_tokens]
        shared = 0
        for a, b in zip(have, prompt.ids, strict=False):
            if a != b:
                break
            shared += 1
        keep = min(shared, len(prompt.ids) - 1)  # the last token is evaluated for its logits
        at = prompt.reused
        for unit in prompt.units:  # an image is kept whole or evaluated whole
            if unit.chunk is not None and at < keep < at + len(unit.ids):
                keep = at
            at += len(unit.ids)
        if prompt.units[-1].chunk is not None:
            raise ValueError("the chat template ends the prompt with an image; it must end with the reply's opening")
        if not llm._ctx.kv_cache_seq_rm(-1, keep, -1):  # noqa: SLF001 - this cache cannot drop a suffix
            llm.reset()
            llm._ctx.kv_cache_clear()  # noqa: SLF001
            keep = 0
        llm.n_tokens = keep
        at = prompt.reused
        for unit in prompt.units:
            end = at + len(unit.ids)
            if end > keep:
                if cancel.is_set():
                    return None
                if unit.chunk is None:
                    llm.eval(unit.ids[max(0, keep - at) :])
                else:
                    assert self.vision is not None
                    self.vision.eval_image(unit)
            at = end
        return keep

    def _cached(self, ids: list[int]) -> bool:
        """Whether the cache still holds the images of `ids` (a cancelled prompt may have overwritten
        them); text after the last image is evaluated again if it is not there."""
        n = next((i + 1 for i in range(len(ids) - 1, -1, -1) if ids[i] < 0), 0)
        return self.llm.n_tokens >= n and bool(np.array_equal(self.llm.input_ids[:n], ids[:n]))

    def generate(self, prompt: _Prompt, options: GenerateOptions, cancel: Any) -> Iterator:
        n_ctx = self.llm.n_ctx()
        p = options.sampling.resolved(self.defaults)
        if p.seed is not None:
            self.llm.set_seed(p.seed)
        if prompt.has_media:  # images: evaluated here; llama-cpp-python's generate then finds it all cached
            kept = self.evaluate(prompt, cancel)
            if kept is None:
                yield Usage(prompt.cells, 0, 0)
                yield Finished("cancelled")
                return
            cached = kept
        else:
            cached = _shared_prefix(self.llm, prompt.ids)
        ids, text = prompt.ids, prompt.text
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
            ready = len(decoded)
            if options.stop:
                cut = min(
                    (i for i in (decoded.find(s, max(0, shown - len(s))) for s in options.stop) if i >= 0), default=-1
                )
                if cut >= 0:
                    yield from parser.feed(decoded[shown:cut])
                    shown, reason = cut, "stop_string"
                    break
                ready -= partial_prefix_len(decoded, options.stop)
            if ready > shown:
                yield from parser.feed(decoded[shown:ready])
                shown = ready
            if len(reply) >= options.max_tokens or len(ids) + len(reply) >= n_ctx:
                break
        decoded += utf8.decode(b"", final=True)
        if reason != "stop_string":
            yield from parser.feed(decoded[shown:])
        self._last = (text + decoded, ids + reply, prompt.media)
        yield from parser.feed("", final=True)
        yield Usage(prompt.cells, len(reply), cached)
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
