"""What packaging/licenses.py cannot read from Python metadata: licences of native libraries.

SYSTEM: Debian packages whose shared libraries PyInstaller copies next to the app (the Qt xcb
platform's X11 and xcb libraries, GLib, D-Bus, ...), from each package's copyright file.
INSIDE_WHEELS: libraries that wheels carry in their `<name>.libs/` folder (auditwheel), matched
by file name; OpenCV's own SBOM names them without licences. VENDORED: other people's files that
a wheel carries elsewhere in its package (Triton's copies of NVIDIA's ptxas, CUPTI, libdevice and
CUDA headers, and of AMD's ROCm headers and bitcode; torch's copy of GCC's libgomp), matched by
their path under site-packages, so they are not listed under the carrying project's licence.
ABSENT: components a wheel's own SBOM lists for some platform that are not in this build, each
with the check that proves it here. A library missing from these tables fails the licence check
until someone adds it with its licence, read from the package's copyright file or the project's
licence. COMMON_TEXTS: the licence texts to copy for wheels that carry none.
"""

from __future__ import annotations

from pathlib import Path

# licence texts for distributions whose wheels carry none, from Debian's common-licenses
COMMON = Path("/usr/share/common-licenses")
COMMON_TEXTS = {
    "PySide6_Essentials": ("LGPL-3", "GPL-3"),  # the LGPL-3.0 is the GPL-3.0 plus its additional permissions
    "shiboken6": ("LGPL-3", "GPL-3"),
    "tokenizers": ("Apache-2.0",),
    "PyGetWindow": ("BSD",),  # BSD-3-Clause in its metadata; the wheel carries no text
}

# exceptions that let GPL-licensed runtime code ship inside a program under any licence
EXCEPTIONS = ("GCC-exception-3.1", "Bootloader-exception", "LLVM-exception", "PCRE2-exception")

GCC_RUNTIME = "GPL-3.0-or-later WITH GCC-exception-3.1"
X11 = "MIT"
SYSTEM = {
    "libblkid1": "LGPL-2.1-or-later", "libmount1": "LGPL-2.1-or-later", "libuuid1": "BSD-3-Clause",
    "libbrotli1": "MIT", "libbsd0": "BSD-3-Clause AND BSD-2-Clause AND ISC AND MIT", "libbz2-1.0": "bzip2-1.0.6",
    "libcap2": "BSD-3-Clause OR GPL-2.0-only", "libcom-err2": "MIT", "libdbus-1-3": "AFL-2.1 OR GPL-2.0-or-later",
    "libexpat1": "MIT", "libffi8": "MIT", "libfontconfig1": "HPND-sell-variant",
    "libfreetype6": "FTL OR GPL-2.0-or-later", "libgcc-s1": GCC_RUNTIME, "libstdc++6": GCC_RUNTIME,
    "libgomp1": GCC_RUNTIME, "libgcrypt20": "LGPL-2.1-or-later", "libglib2.0-0": "LGPL-2.1-or-later",
    "libgpg-error0": "LGPL-2.1-or-later", "libgraphite2-3": "LGPL-2.1-or-later OR MPL-2.0 OR GPL-2.0-or-later",
    "libgssapi-krb5-2": "MIT", "libk5crypto3": "MIT", "libkrb5-3": "MIT", "libkrb5support0": "MIT",
    "libharfbuzz0b": "MIT", "libjpeg62-turbo": "IJG AND BSD-3-Clause AND Zlib", "libkeyutils1": "LGPL-2.0-or-later",
    "liblz4-1": "BSD-2-Clause", "liblzma5": "0BSD", "libmd0": "BSD-2-Clause AND BSD-3-Clause AND ISC",
    "libpcre2-8-0": "BSD-3-Clause WITH PCRE2-exception", "libpng16-16": "Libpng",
    "libselinux1": "LicenseRef-public-domain", "libsqlite3-0": "blessing", "libssl3": "Apache-2.0",
    "libsystemd0": "LGPL-2.1-or-later", "libzstd1": "BSD-3-Clause OR GPL-2.0-only", "zlib1g": "Zlib",
    "libx11-6": X11, "libx11-xcb1": X11, "libxau6": X11, "libxdmcp6": X11, "libxext6": X11, "libxfixes3": X11,
    "libxrandr2": X11, "libxrender1": X11, "libxkbcommon0": X11, "libxkbcommon-x11-0": X11,
    **{f"libxcb-{name}": X11 for name in ("cursor0", "glx0", "icccm4", "image0", "keysyms1", "randr0",
                                          "render-util0", "render0", "shape0", "shm0", "sync1", "util1",
                                          "xfixes0", "xkb1", "xinerama0", "xinput0")},
    "libxcb1": X11, "libwayland-client0": "MIT", "libwayland-cursor0": "MIT", "libwayland-egl1": "MIT",
    "libegl1": "MIT", "libgl1": "MIT", "libglx0": "MIT", "libglvnd0": "MIT", "libopengl0": "MIT",
    "libncursesw6": "X11", "libtinfo6": "X11",
}

NVIDIA = "LicenseRef-NVIDIA-Proprietary"  # the CUDA Toolkit EULA; not GPL, but check its redistribution terms
# where a vendored component's licence text is found: a distribution (its licence files) or a file
CUDA_EULA = "nvidia-cuda-runtime"  # the CUDA Toolkit EULA, as NVIDIA's own runtime wheel carries it
VENDORED = {  # path under site-packages -> (component, licence, licence text or None for the carrier's)
    r"^triton/backends/nvidia/(bin/|include/|lib/cupti|lib/libdevice)": (
        "NVIDIA ptxas, CUPTI, libdevice, headers", NVIDIA, CUDA_EULA),
    r"^triton/backends/amd/(include|lib)/": (
        "AMD ROCm headers and device bitcode", "MIT AND NCSA", None),  # notices in the files
    r"^triton/_C/libtriton\.": (
        "Triton compiler with LLVM and MLIR", "MIT AND Apache-2.0 WITH LLVM-exception", None),
    r"^torch/lib/libgomp\.": (
        "GCC OpenMP runtime (libgomp)", GCC_RUNTIME, Path("/usr/share/doc/libgomp1/copyright")),
}

FFMPEG = "LGPL-2.1-or-later"
INSIDE_WHEELS = {  # file name pattern -> (component, licence)
    r"^libav(codec|format|util)-": ("FFmpeg (OpenCV's build)", FFMPEG),
    r"^libsw(scale|resample)-": ("FFmpeg (OpenCV's build)", FFMPEG),
    r"^libopenblas": ("OpenBLAS", "BSD-3-Clause"),
    r"^libscipy_openblas": ("OpenBLAS (NumPy's build)", "BSD-3-Clause"),
    r"^libgfortran-": ("GCC Fortran runtime", GCC_RUNTIME),
    r"^libquadmath-": ("GCC quad-precision math library", "LGPL-2.1-or-later"),
    r"^libaom-": ("libaom", "BSD-2-Clause"),
    r"^libvpx-": ("libvpx", "BSD-3-Clause"),
    r"^libavif-": ("libavif", "BSD-2-Clause"),
    r"^libsharpyuv-": ("libwebp", "BSD-3-Clause"),
    r"^libwebp(demux|mux)?-": ("libwebp", "BSD-3-Clause"),
    r"^lib(crypto|ssl)-.*1\.1\.1": ("OpenSSL 1.1.1 (OpenCV's build)", "OpenSSL"),
    r"^libpng16-": ("libpng", "Libpng"),
    r"^libdrm-": ("libdrm", "MIT"),
    r"^libXau-": ("libXau", "MIT"),
    r"^libxcb-": ("libxcb", "MIT"),
    r"^libbrotli(common|dec)-": ("Brotli", "MIT"),
    r"^libfreetype-": ("FreeType", "FTL OR GPL-2.0-or-later"),
    r"^libharfbuzz-": ("HarfBuzz", "MIT"),
    r"^libjpeg-": ("libjpeg-turbo", "IJG AND BSD-3-Clause AND Zlib"),
    r"^liblcms2-": ("Little CMS", "MIT"),
    r"^liblzma-": ("XZ Utils liblzma", "0BSD"),
    r"^libopenjp2-": ("OpenJPEG", "BSD-2-Clause"),
    r"^libtiff-": ("libtiff", "libtiff"),
    r"^libzstd-": ("Zstandard", "BSD-3-Clause OR GPL-2.0-only"),
}


def _pillow_has(feature: str) -> bool:
    from PIL import features

    return bool(features.check(feature))


# distribution -> component named in its wheel SBOM -> a check that returns True when it is absent
ABSENT = {
    "pillow": {"libimagequant": lambda: not _pillow_has("libimagequant")},
}
