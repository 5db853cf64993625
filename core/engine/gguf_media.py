"""Images and video frames through llama.cpp's multimodal library (mtmd) and the model's projector.

Runs in the GGUF engine's child process (`gguf_child.py`). The rendered prompt holds one marker
per medium (`core.messages`); here each image marker becomes mtmd's media marker and each video
marker one marker per frame, each after a `[0m1.50s]` time stamp (the format of mtmd's own video
helper, which feeds frames as images the same way). `mtmd_tokenize` then cuts the prompt into
text and image chunks. The prompt is kept as `Unit`s: a text unit is its tokens; an image unit
is its chunk, standing in the token sequence as a run of negative sentinel ids derived from the
image's content digest, one per position it takes. llama-cpp-python's cache bookkeeping
(`input_ids`, `n_tokens`) holds those sentinels, so the longest shared prefix of two prompts is
found the same way for images as for text: an image matches only the same pixels at the same
place. Counting tokens needs only sizes: a blank bitmap of the size is tokenized (preprocessed,
never encoded).
"""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.messages import IMAGE_MARK, VIDEO_MARK, ImagePart, VideoPart, pixel_digest

STAMP = "[{m}m{s:.2f}s]"  # mtmd's video helper's time stamp


def stamp(seconds: float) -> str:
    return STAMP.format(m=int(seconds // 60), s=seconds - 60 * int(seconds // 60))


def frame_keys(part: ImagePart | VideoPart) -> tuple[str, ...]:
    """The content digest of each frame the projector sees: one for an image, one per video frame."""
    if isinstance(part, ImagePart):
        return (pixel_digest(part.pixels),)
    return tuple(pixel_digest(frame) for frame in part.frames)


def sentinels(key: bytes, n: int) -> list[int]:
    """`n` negative ids standing for one image in the token sequence (never a real token)."""
    base = int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little") % (1 << 29)
    return [-(1 + ((base + k) % (1 << 30))) for k in range(n)]


@dataclass
class Unit:
    """One piece of a prompt: text tokens, or an image chunk (owned by `chunks`)."""

    ids: list[int]  # tokens, or the image's sentinel run (one per position)
    chunk: Any = None  # the mtmd chunk of an image; None for text
    cells: int = 0  # cache cells the unit takes (an image's tokens; equals len(ids) for text)


class Projector:
    """An mtmd context over a loaded `Llama`, for the projector file at `path`."""

    def __init__(self, llm: Any, path: str, *, threads: int | None, flash_attn: bool, gpu: bool, why: Any) -> None:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        self.mtmd, self.llm, self.path = mtmd, llm, path
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.print_timings = False
        params.warmup = False
        if threads:
            params.n_threads = threads
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        self.ctx = mtmd.mtmd_init_from_file(path.encode(), llm._model.model, params)  # noqa: SLF001
        if not self.ctx:
            raise ValueError(f"the projector {path} cannot be used with this model: {why()}")
        if not mtmd.mtmd_support_vision(self.ctx):
            self.close()
            raise ValueError(f"the projector {path} reads no images (it is an audio projector)")
        self.marker = mtmd.mtmd_default_marker().decode("utf-8")
        self._sizes: dict[tuple[int, int], int] = {}

    def close(self) -> None:
        if self.ctx:
            self.mtmd.mtmd_free(self.ctx)
            self.ctx = None

    def _bitmap(self, pixels: np.ndarray, key: bytes) -> Any:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        height, width = pixels.shape[:2]
        bitmap = self.mtmd.mtmd_bitmap_init(width, height, pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        if not bitmap:
            raise ValueError(f"llama.cpp could not take a {width}x{height} image")
        self.mtmd.mtmd_bitmap_set_id(bitmap, key)
        return bitmap

    def text_and_frames(
        self, text: str, media: list, keys: list[tuple[str, ...]]
    ) -> tuple[str, list[tuple[np.ndarray, bytes]]]:
        """`text` with mtmd's marker for each image and each video frame, and those frames in order
        with their keys (`frame_keys` of each medium)."""
        frames: list[tuple[np.ndarray, bytes]] = []
        pieces, at = [], 0
        for part, part_keys in zip(media, keys, strict=True):
            mark = IMAGE_MARK if isinstance(part, ImagePart) else VIDEO_MARK
            found = text.find(mark, at)
            if found < 0:
                raise ValueError("the chat template dropped or reordered an image or a video of the conversation")
            pieces.append(text[at:found])
            at = found + len(mark)
            if isinstance(part, ImagePart):
                pieces.append(self.marker)
                frames.append((part.pixels, part_keys[0].encode()))
            else:
                assert isinstance(part, VideoPart)
                for frame, seconds, key in zip(part.frames, part.timestamps, part_keys, strict=True):
                    pieces.append(stamp(seconds) + self.marker)
                    frames.append((frame, key.encode()))
        pieces.append(text[at:])
        return "".join(pieces), frames

    def tokenize(
        self, text: str, media: list, keys: list[tuple[str, ...]], *, add_special: bool
    ) -> tuple[list[Unit], Any]:
        """The prompt's units and the chunk list that owns them (free it with `free`)."""
        marked, frames = self.text_and_frames(text, media, keys)
        return self._tokenize(marked, frames, add_special=add_special)

    def _tokenize(self, marked: str, frames: list, *, add_special: bool) -> tuple[list[Unit], Any]:
        mtmd = self.mtmd
        bitmaps = [self._bitmap(pixels, key) for pixels, key in frames]
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            data = marked.encode("utf-8")
            text = mtmd.mtmd_input_text()
            text.text, text.text_len, text.add_special, text.parse_special = data, len(data), add_special, True
            array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
            code = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.byref(text), array, len(bitmaps))
            if code != 0:
                mtmd.mtmd_input_chunks_free(chunks)
                raise ValueError(f"llama.cpp could not read the prompt's images (mtmd_tokenize returned {code})")
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        units = []
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                n = ctypes.c_size_t()
                ptr = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                ids = [int(ptr[j]) for j in range(n.value)]
                units.append(Unit(ids, None, len(ids)))
            else:
                key = mtmd.mtmd_input_chunk_get_id(chunk) or b""
                positions = mtmd.mtmd_input_chunk_get_n_pos(chunk)
                units.append(Unit(sentinels(key, positions), chunk, mtmd.mtmd_input_chunk_get_n_tokens(chunk)))
        return units, chunks

    def free(self, chunks: Any) -> None:
        if chunks is not None:
            self.mtmd.mtmd_input_chunks_free(chunks)

    def image_tokens(self, height: int, width: int) -> int:
        """Tokens an image of this size costs: a blank one is preprocessed (never encoded)."""
        if (height, width) not in self._sizes:
            blank = np.zeros((height, width, 3), np.uint8)
            units, chunks = self._tokenize(self.marker, [(blank, b"size")], add_special=False)
            self.free(chunks)
            self._sizes[height, width] = sum(u.cells for u in units)  # the image and the text around it
        return self._sizes[height, width]

    def eval_image(self, unit: Unit) -> None:
        """Evaluate one image chunk at the cache's end and record its sentinel run there."""
        import llama_cpp

        llm = self.llm
        start = llm.n_tokens
        n_past = llama_cpp.llama_pos(0)
        code = self.mtmd.mtmd_helper_eval_chunk_single(
            self.ctx,
            llm._ctx.ctx,
            unit.chunk,
            start,
            0,
            llm.n_batch,
            False,
            ctypes.byref(n_past),  # noqa: SLF001
        )
        if code != 0:
            raise RuntimeError(f"llama.cpp could not evaluate an image (error {code})")
        end = start + len(unit.ids)
        if n_past.value != end:
            raise RuntimeError(f"an image took positions {start}..{n_past.value}, expected {start}..{end}")
        llm.input_ids[start:end] = unit.ids
        llm.n_tokens = end
