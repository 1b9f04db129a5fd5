#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# handoff_cg.sh BUILD [SLABD-OPTION...]: instructions per object of the cross-thread
# handoff under callgrind (kbench-slabd --test handoff-cg --fake-cpu 0: rounds of 256
# kmalloc(64) as fake CPU 0, then their 256 kfree as fake CPU 1), as (Ir(N1) - Ir(N0)) /
# (N1 - N0), and the per-CPU misses of kmalloc-64 that the N1 run adds (slabctl stats
# --json), scaled to 9M objects as in bench/RESULTS.md. Each run has a fresh daemon, so
# the counts do not depend on what ran before. Instruction and miss counts, not time:
# stable on a loaded machine.
# The same for the cross-process handoff: xproc-slabd --fake-cpu 0 (producer process as
# CPU 0, consumer process as CPU 1, taking turns through pipes), the instructions of both
# processes together.
set -euo pipefail
BUILD=${1:?usage: handoff_cg.sh BUILD [SLABD-OPTION...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"
N0=${N0:-25600}
N1=${N1:-281600}
TMP=$(mktemp -d /tmp/handoff_cg.XXXXXX)
SOCK=$TMP/s.sock
trap 'stop_slabd handoff_cg.sh; rm -rf "$TMP"' EXIT
misses() { # alloc_misses + free_misses of kmalloc-64
	"$BUILD/tools/slabctl" --socket "$SOCK" stats --json |
		jq '[.caches[] | select(.name == "kmalloc-64") | .alloc_misses, .free_misses] | add'
}
run_xproc() { # objects -> instructions of both processes
	SLABD_SOCKET=$SOCK valgrind --tool=callgrind --callgrind-out-file="$TMP/cgx.%p" \
		"$BUILD/bench/xproc-slabd" --fake-cpu 0 --objects "$1" >"$TMP/out" 2>"$TMP/err" ||
		{ cat "$TMP/err" >&2; exit 1; }
	grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ s += $3 } END { print s }'
}
ir=()
xir=()
xm=0
for n in "$N0" "$N1"; do
	start_slabd handoff_cg.sh "$BUILD/daemon/slabd" "$SOCK" "$TMP/log" "$@"
	m0=$(misses)
	SLABD_SOCKET=$SOCK valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
		"$BUILD/bench/kbench-slabd" --fake-cpu 0 --test handoff-cg --objects "$n" \
		>"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
	ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
	m1=$(misses)
	xir+=("$(run_xproc "$n")")
	xm=$(($(misses) - m1))
	stop_slabd handoff_cg.sh
	rm -f "$SOCK"
done
awk -v a="${ir[0]}" -v b="${ir[1]}" -v n0="$N0" -v n1="$N1" -v m="$((m1 - m0))" \
	'BEGIN { printf "handoff-cg 64: %.1f instructions per object; misses (alloc + free) %d in %d objects = %.1fK per 9M\n",
		 (b - a) / (n1 - n0), m, n1, m * 9e6 / n1 / 1e3 }'
awk -v a="${xir[0]}" -v b="${xir[1]}" -v n0="$N0" -v n1="$N1" -v m="$xm" \
	'BEGIN { printf "xproc handoff-cg 64: %.1f instructions per object (both processes); misses %d in %d objects = %.1fK per 9M\n",
		 (b - a) / (n1 - n0), m, n1, m * 9e6 / n1 / 1e3 }'
