"""Any pixel mode Pillow opens, as [H, W, 3] uint8 RGB with its true colours.

Pillow's own `convert("RGB")` clips wide grey to 0..255, so a 16-bit grey image (mode "I;16"),
whose mid-grey is 32768, would come out white. Wide grey is scaled here instead: 16-bit samples
keep their top byte; 32-bit integers whose values fit in 0..65535 are 16-bit samples too (several
Pillow plugins hold those in mode "I"), other 32-bit integers and floats outside 0..1 are
stretched from their minimum to their maximum (there is no one white for them), and floats in
0..1 are scaled by 255. CIE L*a*b* (D50, as TIFF stores it) is converted to sRGB by the CIE
formulas (LittleCMS through ImageCms garbles Pillow's "LAB" bytes). Transparency is composited
onto white, as a person would see the image on a page.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WHITE = (255, 255, 255)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
D50_WHITE = np.array([0.96422, 1.0, 0.82521])  # XYZ of the CIELab white point
XYZ_D50_TO_LINEAR_SRGB = np.array(  # Bradford-adapted to D65, then the sRGB primaries
    [[3.1338561, -1.6168667, -0.4906146], [-0.9787684, 1.9161415, 0.0334540], [0.0719453, -0.2289914, 1.4052427]]
)


def to_rgb(image: Image.Image) -> np.ndarray:
    """[H, W, 3] uint8 RGB pixels of `image`, whatever its mode."""
    if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
        grey = _wide_grey_to_8_bits(image)
        return np.repeat(grey[:, :, None], 3, axis=2)  # [H, W, 3]
    if image.mode == "LAB":
        return _lab_to_srgb(np.asarray(image).astype(np.float64))
    return np.asarray(_flatten(image), dtype=np.uint8)


def _wide_grey_to_8_bits(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)  # [H, W] uint16 (either byte order), int32 or float32
    if image.mode in _SIXTEEN_BIT:
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 0xFFFF:
        return (values >> 8).astype(np.uint8)
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if image.mode == "F" and values.size and values.min() >= 0.0 and values.max() <= 1.0:
        return np.round(values * 255).astype(np.uint8)
    return _stretch(values)


def _stretch(values: np.ndarray) -> np.ndarray:
    """Values from their minimum (black) to their maximum (white); a flat image is black."""
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255 / (high - low))).astype(np.uint8)


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """[H, W, 3] Pillow "LAB" bytes (L* scaled to 0..255, a* and b* offset by 128) to sRGB."""
    lightness, a, b = lab[..., 0] * (100 / 255), lab[..., 1] - 128, lab[..., 2] - 128
    fy = (lightness + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], axis=-1)  # [H, W, 3]
    epsilon = 6 / 29
    xyz = np.where(f > epsilon, f**3, 3 * epsilon**2 * (f - 4 / 29)) * D50_WHITE
    linear = np.clip(xyz @ XYZ_D50_TO_LINEAR_SRGB.T, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(encoded * 255).astype(np.uint8)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white."""
    has_alpha = image.mode in _ALPHA_MODES or (image.mode in ("P", "L", "RGB", "1") and "transparency" in image.info)
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")
