"""Images and video frames into the patch rows the M3 vision tower reads, without torchvision.

The steps are those of the `minimax_m3_vl` processors in transformers (MSA.md §7), reproduced
with plain torch so the result is identical value for value:
1. `smart_resize`: the nearest size in multiples of 28 (patch 14 x merge 2) whose area lies
   within the pixel budget, keeping the aspect ratio;
2. bicubic resize with antialiasing on the uint8 pixels (torch's native uint8 kernel, which is
   what torchvision runs for uint8 images on the CPU);
3. CLIP normalisation folded into one subtraction and one division on the 0..255 scale;
4. patch rows of 3 x 2 x 14 x 14 values, ordered block-major over 2 x 2 merge blocks; an image is
   its own frame twice, a video's frames are taken in twos (the last repeated when odd) and cut
   into attention segments of at most 4 temporal steps, each with its first frame's timestamp.
Budgets are parameters with the reference defaults; input that cannot fit them is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .sizes import (
    MERGE,
    PATCH,
    TEMPORAL,
    ImageBudget,
    VideoBudget,
    check_frames,
    check_input_size,
    smart_resize,
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True, eq=False)
class VisionInput:
    """One image or video ready for the tower: rows `[N, 3*2*14*14]` and its segments' grids."""

    kind: str  # "image" | "video"
    patches: torch.Tensor  # [sum(t*h*w), 1176] float32
    grids: tuple[tuple[int, int, int], ...]  # (t, h, w) in patches per attention segment
    timestamps: tuple[float | None, ...]  # per temporal step: seconds of its first frame (video)

    @property
    def tokens(self) -> int:
        return sum(t * h * w for t, h, w in self.grids) // (MERGE * MERGE)


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 `[N, 3, H, W]` (CPU) -> float32 `[N, 3, height, width]` on the 0..255 integer grid."""
    if tuple(frames.shape[-2:]) == (height, width):
        return frames.float()
    out = F.interpolate(frames, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return out.float()


def _normalize(frames: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN) * (1.0 / (1 / 255))
    std = torch.tensor(CLIP_STD) * (1.0 / (1 / 255))
    return frames.sub_(mean[:, None, None]).div_(std[:, None, None])


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 `[..., H, W, 3]` numpy -> uint8 `[N, 3, H, W]` torch."""
    t = torch.from_numpy(np.require(pixels, requirements=["C", "W"]))  # copies only a read-only array
    return t.reshape(-1, *t.shape[-3:]).permute(0, 3, 1, 2)


def _patch_rows(frames: torch.Tensor) -> tuple[torch.Tensor, int, int, int]:
    """float `[T*2, 3, H, W]` -> rows `[T*h*w, 3*2*14*14]` ordered (t, block_h, block_w, 2, 2)."""
    n, c, height, width = frames.shape
    t, h, w = n // TEMPORAL, height // PATCH, width // PATCH
    x = frames.view(t, TEMPORAL, c, h // MERGE, MERGE, PATCH, w // MERGE, MERGE, PATCH)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # [t, bh, bw, m, m, c, tp, p, p]
    return x.reshape(t * h * w, c * TEMPORAL * PATCH * PATCH), t, h, w


def preprocess_image(pixels: np.ndarray, budget: ImageBudget = ImageBudget()) -> VisionInput:
    """An RGB uint8 `[H, W, 3]` image as one temporal step (the image twice)."""
    height, width = pixels.shape[:2]
    check_input_size(height, width, budget.max_input_pixels)
    h, w = smart_resize(height, width, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    frame = _normalize(_resize(_to_tensor(pixels), h, w))
    rows, t, gh, gw = _patch_rows(frame.expand(TEMPORAL, -1, -1, -1).contiguous())
    return VisionInput("image", rows, ((t, gh, gw),), (None,))


def preprocess_video(frames: np.ndarray, timestamps, budget: VideoBudget = VideoBudget()) -> VisionInput:
    """Sampled RGB uint8 frames `[N, H, W, 3]` with their times in seconds."""
    check_frames(frames.shape[0], budget)
    height, width = frames.shape[1:3]
    h, w = smart_resize(height, width, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    x = _normalize(_resize(_to_tensor(frames), h, w))
    if pad := -x.shape[0] % TEMPORAL:
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
    rows, t, gh, gw = _patch_rows(x)
    seg = budget.segment_steps
    grids = tuple((min(seg, t - s), gh, gw) for s in range(0, t, seg))
    times = tuple(float(timestamps[min(i * TEMPORAL, len(timestamps) - 1)]) for i in range(t))
    return VisionInput("video", rows, grids, times)
