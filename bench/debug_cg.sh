#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# debug_cg.sh BUILD [SLABD-OPTION...]: instructions per kmalloc(64)+kfree pair under
# callgrind, for the fast path (kbench-slabd --fake-cpu 0, tests pair and pair-rt) against
# a daemon started with the given options (e.g. -o debug=poison for the kmalloc caches in
# debug mode). (Ir(N) - Ir(0)) / N as in run.sh --callgrind; instruction counts are what
# to compare on a shared, noisy machine. Used to show that debug mode off costs the fast
# path nothing (compare a build of the parent commit) and what debug mode on costs.
set -euo pipefail
BUILD=${1:?usage: debug_cg.sh BUILD [SLABD-OPTION...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
ITERS=${ITERS:-200000}
TMP=$(mktemp -d /tmp/debug_cg.XXXXXX)
SOCK=$TMP/s.sock
trap 'stop_slabd debug_cg.sh; rm -rf "$TMP"' EXIT
start_slabd debug_cg.sh "$BUILD/daemon/slabd" "$SOCK" "$TMP/log" "$@"
for t in pair pair-rt; do
	ir=()
	for it in 0 "$ITERS"; do
		SLABD_SOCKET=$SOCK valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
			"$BUILD/bench/kbench-slabd" --fake-cpu 0 --test "$t" --size 64 --iters "$it" \
			--batches 1 --warmup 4096 >"$TMP/out" 2>"$TMP/err"
		ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
	done
	awk -v t="$t" -v a="${ir[0]}" -v b="${ir[1]}" -v n="$ITERS" \
		'BEGIN { printf "%s 64: %.1f instructions per pair\n", t, (b - a) / n }'
done
