#!/usr/bin/env bash
# Set up, build and run every test suite (unit, integration, stress). The README's test
# command. BUILD_DIR (default build) may be set; extra args go to `meson test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
bash scripts/setup.sh
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
	meson setup "$BUILD_DIR" -Ddebug_level=2 ${CI:+--werror}
fi
ninja -C "$BUILD_DIR"
meson test -C "$BUILD_DIR" --print-errorlogs "$@"
