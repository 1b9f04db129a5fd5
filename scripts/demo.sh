#!/usr/bin/env bash
# Set up, build, start slabd with its default configuration on a private socket, run
# the demo client workload against it, and stop the daemon. The README's run command.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
bash scripts/setup.sh
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
	meson setup "$BUILD_DIR"
fi
ninja -C "$BUILD_DIR"

tmp=$(mktemp -d /tmp/slabd-demo.XXXXXX)
sock="$tmp/slabd.sock"
"$BUILD_DIR/daemon/slabd" --foreground --config systemd/slabd.conf --socket "$sock" 2>"$tmp/slabd.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; echo "--- slabd log ---"; cat "$tmp/slabd.log"; rm -rf "$tmp"' EXIT
for _ in $(seq 200); do
	[[ -S "$sock" ]] && break
	sleep 0.05
done
SLABD_SOCKET="$sock" "$BUILD_DIR/tools/slabd-demo"
