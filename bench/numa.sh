#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# numa.sh - same-node versus cross-node handoff through slabd (issue: NUMA).
#
# Two private daemons: "same-node" on this machine's real topology (one node here), and
# "cross-node" told by HWLOC_SYNTHETIC="pack:2 numa:1 core:1 pu:1" that CPU 0 and CPU 1
# are on different nodes. kbench's handoff test allocates 64-B objects on CPU 0 and frees
# them on CPU 1: with the synthetic topology every free is a remote free that goes
# straight to node 0's depot instead of CPU 1's stack. Each round runs both (the order
# alternates); the table gives the median over rounds of each run's median TSC cycles per
# object, [min-max], and cross/same.
#
# Usage: bench/numa.sh [--runs N] [BUILD_DIR]
set -euo pipefail
unset LD_PRELOAD GLIBC_TUNABLES HWLOC_SYNTHETIC HWLOC_XMLFILE
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$here/../build
RUNS=5
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	-h | --help) sed -n 4,15p "$0"; exit 0 ;;
	*) BUILD=$1; shift ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "numa.sh: --runs takes a positive number" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
SLABD=$BUILD/daemon/slabd
KS=$BUILD/bench/kbench-slabd
for f in "$SLABD" "$KS"; do
	[[ -x $f ]] || { echo "numa.sh: $f is missing; build first: ninja -C $BUILD" >&2; exit 1; }
done
if (($(nproc) < 2)); then
	echo "numa.sh: needs two CPUs" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/numa-bench.XXXXXX")
# shellcheck source=bench/common.sh
source "$here/common.sh"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		DPID=$p stop_slabd numa.sh
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

start_slabd numa.sh "$SLABD" "$TMP/same.sock" "$TMP/same.log"
PIDS+=("$DPID")
HWLOC_SYNTHETIC="pack:2 numa:1 core:1 pu:1" start_slabd numa.sh "$SLABD" "$TMP/cross.sock" "$TMP/cross.log"
PIDS+=("$DPID")
grep -q "2 NUMA nodes" "$TMP/cross.log" || { echo "numa.sh: the cross-node daemon did not see two nodes" >&2; cat "$TMP/cross.log" >&2; exit 1; }

one() { # one SOCK -> cycles per object
	SLABD_SOCKET=$1 "$KS" --test handoff | awk '$1 == "kbench" && $3 == "handoff" { print $5 }'
}
same=() cross=()
for ((r = 0; r < RUNS; r++)); do
	if ((r % 2)); then
		cross+=("$(one "$TMP/cross.sock")"); same+=("$(one "$TMP/same.sock")")
	else
		same+=("$(one "$TMP/same.sock")"); cross+=("$(one "$TMP/cross.sock")")
	fi
done
python3 - "${same[*]}" "${cross[*]}" "$BACKING" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
ms, mc = statistics.median(s), statistics.median(c)
print(f"# {len(s)} rounds, kbench handoff (64 B, CPU 0 allocates, CPU 1 frees); {sys.argv[3]}")
print("| handoff | cycles per object | cross/same |")
print("|---|---:|---:|")
print(f"| same node | {ms:.1f} [{min(s):.1f}-{max(s):.1f}] | |")
print(f"| cross node (synthetic 2 nodes) | {mc:.1f} [{min(c):.1f}-{max(c):.1f}] | {mc / ms:.2f} |")
PY
