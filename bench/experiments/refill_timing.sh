#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# refill_timing.sh [ROUNDS]: where a cross-thread handoff's allocation misses go, timed from
# the inside. Not part of the suite: the evidence behind bench/RESULTS.md, session 6.
#
# Builds this checkout with refill_timing.patch applied in a scratch worktree (rdtsc around
# the library's kmem_cache_alloc/free calls, i.e. the inline fast path's misses, and between
# the steps of refill_chain; SLABD_RT_NOCHECK=1 skips the magazine check, an unsafe
# ablation) and runs bulkbench's kmem_cache handoff against a private daemon of that build,
# ROUNDS times (default 10) with the check and without it, alternating, then DPDK's when
# bulkbench-dpdk was built in build/. Prints every repetition (handoff-rep lines: cycles per
# object, then the cross-CPU round trip before and after, see bench_util.h) and each run's
# refill-timing lines. The rdtsc pairs (lfence; rdtsc) cost about 30-40 cycles each, six per
# refill: subtract them when reading the steps. Run it on a quiet machine.
set -euo pipefail
ROUNDS=${1:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../common.sh
. "$ROOT/bench/common.sh"
TMP=$(mktemp -d /tmp/refill_timing.XXXXXX)
WT=$TMP/wt
SOCK=$TMP/s.sock
cleanup() {
	stop_slabd refill_timing.sh
	git -C "$ROOT" worktree remove --force "$WT" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
git -C "$ROOT" worktree add --detach "$WT" HEAD >/dev/null
git -C "$WT" apply "$HERE/refill_timing.patch"
meson setup "$TMP/build" "$WT" -Dbuildtype=debugoptimized >/dev/null
ninja -C "$TMP/build" daemon/slabd bench/bulkbench-slabd >/dev/null
start_slabd refill_timing.sh "$TMP/build/daemon/slabd" "$SOCK" "$TMP/log"
ARGS=(--test handoff --reps 3 --handoff-objects 300000)
for ((r = 0; r < ROUNDS; r++)); do
	"$TMP/build/bench/bulkbench-slabd" --socket "$SOCK" "${ARGS[@]}" --name check 2>&1 |
		grep -E 'handoff-rep|refill-timing'
	SLABD_RT_NOCHECK=1 "$TMP/build/bench/bulkbench-slabd" --socket "$SOCK" "${ARGS[@]}" --name nocheck 2>&1 |
		grep -E 'handoff-rep|refill-timing'
	if [[ -x $ROOT/build/bench/bulkbench-dpdk ]]; then
		"$ROOT/build/bench/bulkbench-dpdk" "${ARGS[@]}" 2>/dev/null | grep handoff-rep || true
	fi
done
