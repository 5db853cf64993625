#!/usr/bin/env bash
# System packages Spyglass needs beside its Python ones (Debian/Ubuntu names): Qt's X11 platform
# libraries, Xvfb for headless windows and screenshots, xdotool for driving real windows in tests,
# xrandr (x11-xserver-utils) for the two-monitor screenshot tests; a C/C++ compiler and CMake to
# build llama-cpp-python (the GGUF engine) from source once.
# Installs what is missing when run as root with apt-get; otherwise lists what to install.
set -euo pipefail

PACKAGES=(
  xvfb xauth xdotool x11-xserver-utils
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-xkb1 libx11-xcb1 libxrender1 libxi6
  fonts-dejavu-core
  g++ cmake
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system-deps: please install these packages: ${missing[*]}" >&2
  exit 1
fi
