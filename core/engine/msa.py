"""Our own MiniMax-M3 runtime behind the Engine protocol.

`load` reads config, tokenizer, chat template and generation defaults, then the weights layer
by layer onto the device with progress (the vision tower too, when the folder has one), and
sizes one paged cache for `context_tokens`. One conversation's tokens stay in that cache:
`generate` renders the whole conversation with the checkpoint's own template, images and videos
as placeholder runs (`core/vision/prompt.py`), keeps the longest cached prefix it shares with the
new prompt (placeholders compare by the content of their medium, so a new image never reuses an
old one's cache) and prefills only the rest, running the tower only for media not yet cached.
A prompt that does not fit is refused before any image is processed. `cancel` may be called
from any thread. `from_settings` is the registry's factory: the `msa` settings section says
where and how the model runs, the index keys' cache dtype included (fp8 e4m3 when asked; an
attention backend that cannot read it fails the load before any weight is read).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from core.events import Event, Finished, LoadProgress
from core.messages import Message, template_messages
from core.model.attention import check_index_cache
from core.model.cache import PagedCache, Sequence
from core.model.checkpoint import Checkpoint
from core.model.config import config_from_dict, read_config_json
from core.model.generate import generate
from core.model.m3 import M3TextModel
from core.model.prompt import load_template, load_tokenizer
from core.model.stream import THINK_OPEN
from core.settings import Settings
from core.vision.preprocess import preprocess_image, preprocess_video
from core.vision.prompt import MediaLayout, expand, layout, media_keys
from core.vision.sizes import ImageBudget, M3MediaPlan, VideoBudget
from core.vision.tower import VisionTower, expected_vision_tensors, vision_config_from_dict

from .options import GenerateOptions, SamplingParams
from .protocol import ContextTooLongError, EngineBase, EngineError, EngineInfo

log = logging.getLogger(__name__)
END_OF_TURN = "[e~["  # the M3 end-of-message marker, an end token when the folder names none
DEFAULT_CONTEXT = 32768


DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
INDEX_DTYPES = {"auto": None, "fp8": torch.float8_e4m3fn}  # msa.index_cache -> PagedCache's index_dtype
CPU_WEIGHTS_LIMIT = 8 * 10**9  # bytes of safetensors the CPU reference path is allowed to take on


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def from_settings(settings: Settings) -> MsaEngine:
    """The registry's factory: the folder, the context and the `msa` section of `settings`."""
    assert settings.model_dir is not None  # the registry chose this backend for a folder
    msa, folder = settings.msa, Path(settings.model_dir).expanduser()
    device = torch.device(msa.device) if msa.device else default_device()
    check_fits_the_cpu(folder, device)
    return MsaEngine(
        folder,
        device=msa.device,
        dtype=DTYPES[msa.dtype] if msa.dtype else None,
        context_tokens=settings.context_tokens,
        attention=msa.attention,
        decode_graph=msa.decode_graph,
        index_dtype=INDEX_DTYPES[msa.index_cache],
    )


def check_fits_the_cpu(folder: Path, device: torch.device, limit: int = CPU_WEIGHTS_LIMIT) -> None:
    """Without an NVIDIA GPU the runtime computes in fp32 on the CPU: fine for small models, hopeless
    for M3 itself. Past `limit` bytes of weights, say so and point at the GGUF route."""
    if device.type == "cuda":
        return
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    if size > limit:
        raise EngineError(
            f"{folder} holds {size / 1e9:.0f} GB of weights; without an NVIDIA GPU our runtime would compute them in "
            "fp32 on the CPU, far too slowly. Use a quantized GGUF of the model instead (Settings: GGUF file, or "
            "Get a model), which llama.cpp runs on the CPU, keeping MoE experts in memory"
        )


def generation_defaults(folder: Path) -> tuple[SamplingParams, tuple[int, ...]]:
    """The checkpoint's `generation_config.json`: default sampling and end-token ids (both optional)."""
    path = folder / "generation_config.json"
    if not path.is_file():
        return SamplingParams(), ()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        eos = data.get("eos_token_id")
        eos_ids = tuple(int(i) for i in (eos if isinstance(eos, list) else [] if eos is None else [eos]))
        sampled = data.get("do_sample", True)
        params = SamplingParams(
            temperature=float(data.get("temperature", 1.0)) if sampled else 0.0,
            top_k=int(data.get("top_k") or 0),
            top_p=float(data.get("top_p") or 1.0),
        )
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} cannot be used: {err}") from err
    return params, eos_ids


class MsaEngine(EngineBase):
    def __init__(
        self,
        folder: str | Path,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        context_tokens: int | None = None,
        attention: str | None = None,
        decode_graph: bool = True,
        index_dtype: torch.dtype | None = None,
        prefill_chunk: int = 8192,
        image_budget: ImageBudget = ImageBudget(),
        video_budget: VideoBudget = VideoBudget(),
    ):
        self.folder = Path(folder)
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.context_tokens, self.attention, self.prefill_chunk = context_tokens, attention, prefill_chunk
        self.decode_graph = decode_graph
        self.index_dtype = index_dtype or self.dtype  # the MSA index keys' cache: the KV cache's dtype by default
        self.state = "idle"
        self.error: str | None = None
        self.image_budget, self.video_budget = image_budget, video_budget
        self._cancel = threading.Event()
        self.model: M3TextModel | None = None  # these four are set by load()
        self.cache: PagedCache | None = None
        self.seq: Sequence | None = None
        self.vision: VisionTower | None = None
        self._prompt_keys: list = []

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        if self.state != "idle":
            raise EngineError(f"the engine is {self.state}; load it once, from idle")
        self.state = "loading"
        try:
            self._check_index_cache()
            data = read_config_json(self.folder)
            cfg = config_from_dict(data, self.folder / "config.json")
            ckpt = Checkpoint(self.folder, cfg)
            self.tokenizer, self.template = load_tokenizer(self.folder), load_template(self.folder)
            self.sampling, eos = generation_defaults(self.folder)
            end = self.tokenizer.token_to_id(END_OF_TURN)
            self.eos_ids = eos or ((end,) if end is not None else ())
            self.model = M3TextModel(
                cfg,
                ckpt,
                dtype=self.dtype,
                device=self.device,
                attention=self.attention,
                decode_graph=self.decode_graph,
                on_progress=on_progress,
            )
            self.vision = self._load_vision(data, ckpt, cfg)
            self.context = min(self.context_tokens or DEFAULT_CONTEXT, cfg.max_position_embeddings)
            pages = -(-self.context // cfg.index_block_size)
            self.cache = PagedCache(
                cfg, num_pages=pages, dtype=self.dtype, device=self.device, index_dtype=self.index_dtype
            )
            self.seq = Sequence()
        except Exception as err:
            self.state, self.error = "failed", str(err)
            self.model = self.cache = None
            raise
        self.state = "ready"
        kinds = f"{self.dtype}, index cache {self.index_dtype}"
        log.info("loaded %s on %s (%s), context %d tokens", self.folder, self.device, kinds, self.context)

    def _check_index_cache(self) -> None:
        """EngineError, naming the setting, when the attention backend cannot read the index cache's
        dtype on this device (fp8 on a GPU below compute capability 8.9)."""
        try:
            check_index_cache(self.device, self.attention, self.index_dtype)
        except ValueError as err:
            kind = str(self.index_dtype).removeprefix("torch.")
            raise EngineError(
                f"msa.index_cache: an index cache of {kind} cannot be used on {self.device}: {err}. "
                "Set msa.index_cache to auto (SPYGLASS_INDEX_CACHE=auto): the KV cache's dtype"
            ) from err

    def info(self) -> EngineInfo:
        self._require_ready()
        media = M3MediaPlan(self.image_budget, self.video_budget) if self.vision is not None else None
        return EngineInfo("msa", self.folder.name, self.context, media)

    def _load_vision(self, data: dict, ckpt, cfg) -> VisionTower | None:
        """The tower when the folder has one: all of its tensors, or none of them (text-only)."""
        if "vision_config" not in data:
            return None
        vcfg = vision_config_from_dict(data, cfg.hidden_size)
        if not any(name in ckpt.tensors for name in expected_vision_tensors(vcfg)):
            log.info("%s has no vision tower weights: text only", self.folder)
            return None
        return VisionTower(vcfg, ckpt, dtype=self.dtype, device=self.device)

    def _prompt(self, messages: list[Message], options: GenerateOptions):
        """(token ids, rendered text, media parts, their layouts, cache keys) of the conversation."""
        parts: list | None = [] if self.vision is not None else None
        text = self.template.render(
            template_messages(messages, parts), tools=list(options.tools) or None, **options.template_options
        )
        layouts = [layout(p, self.image_budget, self.video_budget) for p in parts or []]
        ids = self.tokenizer.encode(expand(text, layouts) if layouts else text, add_special_tokens=False).ids
        if self.vision is None:
            return ids, text, [], [], ids
        keys = media_keys(ids, layouts, self.vision.cfg.image_token_id, self.vision.cfg.video_token_id)
        return ids, text, parts, layouts, keys

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int:
        """Tokens of the prompt, images and videos included (no pixel is processed to count them)."""
        self._require_ready()
        return len(self._prompt(messages, options)[0])

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator[Event]:
        """Events of the reply; `ContextTooLongError` (before any work) when the prompt does not fit."""
        self._require_ready()
        self._cancel.clear()
        ids, text, parts, layouts, keys = self._prompt(messages, options)
        if len(ids) >= self.context:
            media = (
                f" ({sum(m.tokens for m in layouts)} of them for {len(layouts)} images and videos)" if layouts else ""
            )
            raise ContextTooLongError(
                f"the conversation needs {len(ids)} tokens{media} of the {self.context}-token "
                "context and leaves none for the reply; shorten it or raise the context"
            )
        self._reuse_prefix(keys)
        self._prompt_keys = keys
        return self._stream(ids, text, parts, layouts, options)

    def _cached_keys(self) -> list:
        assert self.seq is not None  # loaded
        n = self.seq.length
        old = self._prompt_keys[:n]
        return old + self.seq.ids[len(old) : n]

    def _reuse_prefix(self, keys: list) -> None:
        """Keep the cached tokens the new prompt starts with (at least one prompt token stays new)."""
        assert self.cache is not None and self.seq is not None  # loaded
        same = 0
        for a, b in zip(self._cached_keys(), keys[:-1], strict=False):
            if a != b:
                break
            same += 1
        self.cache.truncate(self.seq, same)

    def _embeds(self, ids: list[int], parts: list, layouts: list[MediaLayout]) -> torch.Tensor | None:
        """Vision embeddings of the placeholders after the cached prefix, in order."""
        if not layouts:
            return None
        assert self.model is not None and self.seq is not None and self.vision is not None  # loaded, with media
        mask = self.model.media_mask(torch.tensor(ids))
        done = int(mask[: self.seq.length].sum())  # placeholders already in the cache
        if done == int(mask.sum()):
            return None
        first, start = 0, 0
        while start + layouts[first].tokens <= done:
            start += layouts[first].tokens
            first += 1
        inputs = [
            preprocess_image(p.pixels, self.image_budget)
            if m.kind == "image"
            else preprocess_video(p.frames, p.timestamps, self.video_budget)
            for p, m in zip(parts[first:], layouts[first:], strict=True)
        ]
        return torch.cat(self.vision.forward(inputs))[done - start :]

    def _stream(self, ids, text, parts, layouts, options: GenerateOptions) -> Iterator:
        assert self.model is not None and self.cache is not None and self.seq is not None  # loaded
        decode = lambda tokens: self.tokenizer.decode(tokens, skip_special_tokens=False)  # noqa: E731
        new = torch.tensor(ids[self.seq.length :], device=self.device)
        try:
            embeds = self._embeds(ids, parts, layouts)
            yield from generate(
                self.model,
                self.cache,
                self.seq,
                new,
                decode,
                embeds=embeds,
                params=options.sampling.resolved(self.sampling),
                max_tokens=options.max_tokens,
                stop=options.stop,
                eos_ids=self.eos_ids,
                cancel=self._cancel,
                context_length=self.context,
                prefill_chunk=self.prefill_chunk,
                reasoning=text.rstrip().endswith(THINK_OPEN),
            )
        except (RuntimeError, ValueError) as err:  # e.g. device out of memory, a medium refused: cache may be partial
            log.exception("generation failed")
            self.cache.truncate(self.seq, 0)
            yield Finished("error", f"{type(err).__name__}: {err}")

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.model = self.cache = self.seq = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.state = "closed"
