#!/bin/sh
# Install this Spyglass folder for the current user: ~/.local/opt/<folder>, a `spyglass` command in
# ~/.local/bin, and the menu entry and icon. `install.sh --uninstall` removes the same three
# things (never your settings, history or models; README says where those live).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$here")
opt="$HOME/.local/opt/$name" bin="$HOME/.local/bin" apps="$HOME/.local/share/applications"
icons="$HOME/.local/share/icons/hicolor/256x256/apps"
if [ "${1:-}" = --uninstall ]; then
  rm -rf "$opt" "$bin/spyglass" "$apps/spyglass.desktop" "$icons/spyglass.png"
  echo "Spyglass removed (settings, history and models are kept)"
  exit 0
fi
mkdir -p "$HOME/.local/opt" "$bin" "$apps" "$icons"
[ "$here" = "$opt" ] || { rm -rf "$opt"; cp -a "$here" "$opt"; }
ln -sf "$opt/spyglass" "$bin/spyglass"
cp "$opt/share/spyglass.png" "$icons/spyglass.png"
sed "s|^Exec=spyglass|Exec=$opt/spyglass|" "$opt/share/spyglass.desktop" > "$apps/spyglass.desktop"
echo "Spyglass installed in $opt; run it from the menu or with $bin/spyglass"
