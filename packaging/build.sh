#!/usr/bin/env bash
# Build one edition into dist/: the one-folder bundle, its licences (packaging/licenses.py fails
# on GPL/AGPL), the CycloneDX SBOM beside it and, on Linux, a tar.xz holding the folder, a
# .desktop file and the icon. Called by `make package` / `make package-gpu` with the build
# venv's Python and the tiny self-test GGUF already made; the GPU edition also bundles the tiny
# M3 checkpoint folder `tiny-m3-msa` beside the GGUF (packaging/tiny_msa.py writes it).
#   packaging/build.sh PYTHON EDITION GGUF [--no-archive]
set -euo pipefail
python=$1 edition=$2 gguf=$3 archive=${4:-}
cd "$(dirname "$0")/.."
name=Spyglass; [ "$edition" = gpu ] && name=Spyglass-GPU
started=$(date +%s)
msa=
if [ "$edition" = gpu ]; then
  msa=$(realpath "$(dirname "$gguf")/tiny-m3-msa")
  [ -f "$msa/config.json" ] || { echo "build.sh: $msa is missing: run packaging/tiny_msa.py $msa (make package-gpu does)" >&2; exit 1; }
fi

run=()
[ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null && run=(xvfb-run -a)  # pynput's hook needs an X display
SPYGLASS_EDITION=$edition SPYGLASS_SELFTEST_GGUF=$(realpath "$gguf") SPYGLASS_SELFTEST_MSA=$msa \
  "${run[@]}" "$python" -m PyInstaller \
  --noconfirm --clean --log-level WARN --workpath "build/pyinstaller-$edition" --distpath dist packaging/spyglass.spec
"$python" packaging/licenses.py "dist/$name" > "dist/$name.licenses.txt" || { cat "dist/$name.licenses.txt"; exit 1; }
tail -n 1 "dist/$name.licenses.txt"
"$python" packaging/dedupe.py "dist/$name"  # identical files (soname copies, repeated licence texts) become links
mkdir -p "dist/$name/share"
cp assets/spyglass.png "dist/$name/share/spyglass.png"
sed "s/@NAME@/$name/" packaging/linux/spyglass.desktop > "dist/$name/share/spyglass.desktop"
cp packaging/linux/install.sh "dist/$name/install.sh"

if [ "$archive" != --no-archive ]; then
  version=$("$python" -c "import importlib.metadata as m; print(m.version('spyglass'))")
  tar -C dist -cf - "$name" | xz -T0 -3 > "dist/$name-$version-linux-x86_64.tar.xz"
  echo "archive: dist/$name-$version-linux-x86_64.tar.xz ($(du -h "dist/$name-$version-linux-x86_64.tar.xz" | cut -f1))"
fi
echo "$name: built in $(( $(date +%s) - started )) s; $(du -sh --apparent-size "dist/$name" | cut -f1) unpacked"
