"""Every pixel mode Pillow opens from a format we accept comes out with its true colours: the
file is written by the test from a known array, and the expected RGB is computed from that array
with numpy (16-bit grey keeps its top byte, 32-bit and float grey by their range, CMYK by
Pillow's documented formula, L*a*b* by the CIE formulas, transparency composited onto white)."""

import numpy as np
import pytest
from PIL import Image

from core.ingest import ingest_path

RNG = np.random.default_rng(13)
GRADIENT16 = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (4, 1))  # [4, 256]


def _read(path) -> np.ndarray:
    pixels = ingest_path(path).parts[0].pixels
    assert pixels.dtype == np.uint8 and pixels.shape[2] == 3
    return pixels.astype(int)


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=int)[..., None], 3, axis=2)


def _on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(float)[..., None] / 255
    return np.asarray(rgb, dtype=float).reshape(a.shape[:2] + (-1,)) * a + 255 * (1 - a)


def _blocks(colours: np.ndarray) -> np.ndarray:
    """Each colour as a flat 16x16 block, so JPEG's blocks hold one colour each."""
    return np.repeat(np.repeat(colours, 16, axis=0), 16, axis=1)


JPEG_BEST = {"quality": 100, "subsampling": 0}


def _stretch(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return np.round((values.astype(np.float64) - lo) * 255 / (hi - lo))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_keeps_its_top_byte(tmp_path, fmt):
    path = tmp_path / "grey16.img"
    Image.fromarray(GRADIENT16).save(path, fmt)
    assert Image.open(path).mode == "I;16"
    assert np.array_equal(_read(path), _grey(GRADIENT16 >> 8))


def test_mid_grey_16_bit_png_is_mid_grey(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "mid.png")
    assert tuple(_read(tmp_path / "mid.png")[4, 4]) == (128, 128, 128)


def test_big_endian_16_bit_tiff(tmp_path):
    path = tmp_path / "grey16b.tif"
    Image.frombytes("I;16B", (256, 4), GRADIENT16.astype(">u2").tobytes()).save(path, "TIFF")
    assert Image.open(path).mode == "I;16B"
    assert np.array_equal(_read(path), _grey(GRADIENT16 >> 8))


def test_32_bit_grey_within_16_bits_is_read_on_the_16_bit_scale(tmp_path):
    path = tmp_path / "grey32.tif"
    Image.fromarray(GRADIENT16.astype(np.int32)).save(path, "TIFF")
    assert Image.open(path).mode == "I"
    assert np.array_equal(_read(path), _grey(GRADIENT16 >> 8))


def test_32_bit_grey_beyond_16_bits_is_stretched_over_its_range(tmp_path):
    path = tmp_path / "signed32.tif"
    values = np.tile(np.linspace(-100_000, 300_000, 200).round().astype(np.int32), (3, 1))
    Image.fromarray(values).save(path, "TIFF")
    assert Image.open(path).mode == "I"
    assert np.abs(_read(path) - _grey(_stretch(values))).max() <= 1


def test_float_grey_from_0_to_1_is_scaled_to_255(tmp_path):
    path = tmp_path / "unit.tif"
    values = np.tile(np.linspace(0, 1, 101, dtype=np.float32), (3, 1))
    Image.fromarray(values).save(path, "TIFF")
    assert Image.open(path).mode == "F"
    assert np.abs(_read(path) - _grey(np.round(values * 255))).max() <= 1


def test_float_grey_beyond_0_to_1_is_stretched_over_its_range(tmp_path):
    path = tmp_path / "heights.tif"
    values = np.tile(np.linspace(-20.5, 8848.0, 120, dtype=np.float32), (3, 1))
    Image.fromarray(values).save(path, "TIFF")
    assert np.abs(_read(path) - _grey(_stretch(values))).max() <= 1


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "GIF"])
def test_bilevel(tmp_path, fmt):
    bits = RNG.integers(0, 2, (24, 40)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "bits.img", fmt)
    assert np.array_equal(_read(tmp_path / "bits.img"), _grey(bits * 255))


@pytest.mark.parametrize("fmt, tolerance", [("PNG", 0), ("TIFF", 0), ("BMP", 0), ("GIF", 0), ("JPEG", 6)])
def test_8_bit_grey(tmp_path, fmt, tolerance):
    values = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    Image.fromarray(values).save(tmp_path / "grey.img", fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    assert np.abs(_read(tmp_path / "grey.img") - _grey(values)).max() <= tolerance


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_grey_with_alpha_is_composited_onto_white(tmp_path, fmt):
    grey, alpha = RNG.integers(0, 256, (16, 16), dtype=np.uint8), RNG.integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(np.stack([grey, alpha], axis=2), "LA").save(tmp_path / "la.img", fmt)
    assert np.abs(_read(tmp_path / "la.img") - _on_white(grey, alpha)).max() <= 1


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF"])
def test_palette(tmp_path, fmt):
    palette = RNG.integers(0, 256, (16, 3), dtype=np.uint8)
    index = RNG.integers(0, 16, (20, 30), dtype=np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette(palette.tobytes())
    image.save(tmp_path / "palette.img", fmt)
    assert np.array_equal(_read(tmp_path / "palette.img"), palette[index].astype(int))


def test_palette_with_a_transparent_entry(tmp_path):
    palette = RNG.integers(0, 256, (4, 3), dtype=np.uint8)
    index = RNG.integers(0, 4, (12, 12), dtype=np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette(palette.tobytes())
    image.save(tmp_path / "palette.png", transparency=2)
    expected = np.where((index == 2)[..., None], 255, palette[index].astype(int))
    assert np.array_equal(_read(tmp_path / "palette.png"), expected)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP"])
def test_rgb(tmp_path, fmt):
    rgb = RNG.integers(0, 256, (10, 14, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.img", fmt)
    assert np.array_equal(_read(tmp_path / "rgb.img"), rgb.astype(int))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_rgba_is_composited_onto_white(tmp_path, fmt):
    rgba = RNG.integers(0, 256, (10, 14, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.img", fmt, **({"lossless": True, "exact": True} if fmt == "WEBP" else {}))
    assert np.abs(_read(tmp_path / "rgba.img") - _on_white(rgba[..., :3], rgba[..., 3])).max() <= 1


@pytest.mark.parametrize("fmt, tolerance", [("TIFF", 0), ("JPEG", 8)])
def test_cmyk(tmp_path, fmt, tolerance):
    cmyk = _blocks(RNG.integers(0, 256, (4, 4, 4), dtype=np.uint8))
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "cmyk.img", fmt, **(JPEG_BEST if fmt == "JPEG" else {}))
    c, m, y, k = (cmyk[..., i].astype(float) for i in range(4))
    expected = np.stack([np.round((255 - ch) * (255 - k) / 255) for ch in (c, m, y)], axis=2)  # no ink profile
    assert np.abs(_read(tmp_path / "cmyk.img") - expected).max() <= tolerance


@pytest.mark.parametrize("fmt, tolerance", [("TIFF", 3), ("JPEG", 8)])
def test_ycbcr(tmp_path, fmt, tolerance):
    rgb = _blocks(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    Image.fromarray(rgb).convert("YCbCr").save(tmp_path / "ycc.img", fmt, **(JPEG_BEST if fmt == "JPEG" else {}))
    assert np.abs(_read(tmp_path / "ycc.img") - rgb.astype(int)).max() <= tolerance


# Published CIELab (D50) values of sRGB colours, as ICC colour managers give them: (L*, a*, b*) -> RGB
LAB_OF_SRGB = [((100.0, 0.0, 0.0), (255, 255, 255)), ((0.0, 0.0, 0.0), (0, 0, 0)), ((50.0, 0.0, 0.0), (119, 119, 119)),
               ((54.29, 80.81, 69.89), (255, 0, 0)), ((87.82, -79.29, 80.99), (0, 255, 0)),
               ((29.57, 68.30, -112.03), (0, 0, 255))]


def test_cie_lab_tiff(tmp_path):
    lab = np.array([[[round(l * 255 / 100), round(a) + 128, round(b) + 128] for (l, a, b), _ in LAB_OF_SRGB]],
                   dtype=np.uint8)  # Pillow's bytes: L* scaled to 0..255, a* and b* offset by 128
    Image.fromarray(lab, "LAB").save(tmp_path / "lab.tif", "TIFF")
    assert Image.open(tmp_path / "lab.tif").mode == "LAB"
    expected = np.array([[rgb for _, rgb in LAB_OF_SRGB]])
    # the bytes round L*, a* and b*; sRGB's steep start turns that into up to ~10 levels near 0
    assert np.abs(_read(tmp_path / "lab.tif") - expected).max() <= 12
