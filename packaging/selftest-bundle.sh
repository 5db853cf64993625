#!/usr/bin/env bash
# Run a bundle's `spyglass --self-test` as a stranger's machine would: `env -i` (no PATH, no
# DISPLAY, no virtualenv, no PYTHONPATH), a fresh HOME, from outside the source tree. The self-test
# starts its own Xvfb. Exit status: the self-test's.
#   packaging/selftest-bundle.sh dist/Spyglass
set -euo pipefail
bundle=$(realpath "$1")
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
cd "$home"
started=$(date +%s%N)
status=0
env -i HOME="$home" timeout 300 "$bundle/spyglass" --self-test || status=$?
echo "selftest-bundle: exit $status after $(( ($(date +%s%N) - started) / 1000000 )) ms (env -i, HOME=$home)"
exit $status
