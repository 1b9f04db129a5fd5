#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pkt.sh - run pktbench against slabd (slabd_pktbuf_*) and DPDK (rte_pktmbuf_*) in the
# same run: RUNS rounds, each running both programs in an order that alternates; print a
# markdown table of the medians over the rounds and the ratio dpdk/slabd (> 1: slabd is
# faster). The daemon is private (bench/common.sh). Its DMA zone runs in iova_mode = va
# unless --slabd-opt names an iova_mode: DPDK's EAL with --no-huge runs in va mode, so va
# is the like-for-like comparison (pa without hugepages gives every buffer of the default
# geometry a 4 KiB page of its own, physically contiguous, which DPDK does not give here).
#
# With --callgrind it also counts instructions per buffer under callgrind (not noisy: the
# figures to trust on a loaded machine): each test run twice, with --objects 0 and with
# --objects CG_OBJECTS, the difference divided by CG_OBJECTS, so the set-up cancels.
# slabd runs its real inline fast paths through pktbench --fake-cpu 0 (valgrind has no
# rseq); DPDK's EAL runs under valgrind with --no-huge; "slabd-lib" is pktbench-slabd-lib,
# built with SLABD_NO_INLINE (every call into the library).
#
# --slabd-opt KEY=VALUE (repeatable) passes -o KEY=VALUE to the daemon, e.g. iova_mode=pa
# (or auto, the daemon's default): in pa mode without hugepages every buffer has a page to
# itself (a 4096-byte stride).
#
# Usage: bench/pkt.sh [--runs N] [--pipe PACKETS] [--callgrind] [--callgrind-only] [--slabd-opt K=V] [BUILD_DIR]
set -euo pipefail
unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_ GLIBC_TUNABLES

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$here/../build
RUNS=${RUNS:-5}
PIPE=2000000
CG=0
CG_OBJECTS=${CG_OBJECTS:-65536}
SLABD_OPTS=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--slabd-opt) SLABD_OPTS+=(-o "$2"); shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--pipe) PIPE=$2; shift 2 ;;
	--callgrind) CG=1; shift ;;
	--callgrind-only) CG=1; RUNS=0; shift ;;
	-h | --help) echo "Usage: $0 [--runs N] [--pipe PACKETS (0: none)] [--callgrind] [--callgrind-only] [--slabd-opt K=V] [BUILD_DIR]"; exit 0 ;;
	*) BUILD=$1; shift ;;
	esac
done
BUILD=$(cd "$BUILD" && pwd)
PS=$BUILD/bench/pktbench-slabd
PD=$BUILD/bench/pktbench-dpdk
ALLOCS=(slabd)
[[ -x $PD ]] && ALLOCS+=(dpdk) || echo "pkt.sh: $PD not built (install dpdk-dev, reconfigure): slabd only" >&2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pktbench.XXXXXX")
SOCK=$TMP/slabd.sock
DPID=
# shellcheck source=bench/common.sh
source "$here/common.sh"
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_slabd pkt.sh
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[[ " ${SLABD_OPTS[*]} " == *" iova_mode="* ]] || SLABD_OPTS=(-o iova_mode=va "${SLABD_OPTS[@]}")
start_slabd pkt.sh "$BUILD/daemon/slabd" "$SOCK" "$TMP/slabd.log" "${SLABD_OPTS[@]}"
IOVA=$(grep -m1 -o 'IOVA mode: [a-z]*' "$TMP/slabd.log" || echo "IOVA mode: ?")

: >"$TMP/raw"
steal() { awk '$1 == "cpu" { print $9 }' /proc/stat; } # jiffies the hypervisor took from this VM
STEAL0=$(steal)
for ((run = 0; run < RUNS; run++)); do
	for ((j = 0; j < ${#ALLOCS[@]}; j++)); do
		a=${ALLOCS[$(((run + j) % ${#ALLOCS[@]}))]}
		echo "pkt.sh: round $((run + 1))/$RUNS: $a" >&2
		case $a in
		slabd) "$PS" --socket "$SOCK" --pipe "$PIPE" --pipe-runs 1 >"$TMP/out" ;;
		dpdk) "$PD" --pipe "$PIPE" --pipe-runs 1 >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; } ;;
		esac
		((run)) || grep '^#' "$TMP/out" | sed "s/^# /$a: /" >>"$TMP/info"
		grep '^pktbench ' "$TMP/out" >>"$TMP/raw"
	done
done

echo "## pktbench: slabd_pktbuf_* against DPDK rte_pktmbuf_*"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z'); kernel $(uname -r); $(nproc) CPUs: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); CPU time stolen by the hypervisor during the timed rounds: $(( ($(steal) - STEAL0) * 1000 / $(getconf CLK_TCK) )) ms"
if ((RUNS)); then
	echo "- slabd $BACKING, $IOVA; command: bench/pkt.sh --runs $RUNS --pipe $PIPE$( ((CG)) && echo ' --callgrind')${SLABD_OPTS[*]:+ (daemon ${SLABD_OPTS[*]})}"
else
	echo "- slabd $BACKING, $IOVA; command: bench/pkt.sh --callgrind-only"
fi
[[ -s $TMP/info ]] && sed 's/^/- /' "$TMP/info"

if ((CG)); then
	command -v valgrind >/dev/null || { echo "pkt.sh: --callgrind needs valgrind" >&2; exit 1; }
	declare -A IR
	CGA=("${ALLOCS[@]}")
	[[ -x $BUILD/bench/pktbench-slabd-lib ]] && CGA+=(slabd-lib)
	for a in "${CGA[@]}"; do
		for t in single:1 single:32 bulk:8 bulk:32 xfer:32; do
			ir=()
			for objs in 0 "$CG_OBJECTS"; do
				case $a in
				slabd) cmd=("$PS" --socket "$SOCK" --fake-cpu 0) ;;
				slabd-lib) cmd=("$BUILD/bench/pktbench-slabd-lib" --socket "$SOCK" --fake-cpu 0) ;;
				dpdk) cmd=("$PD") ;;
				esac
				echo "pkt.sh: callgrind $a $t --objects $objs" >&2
				if ! valgrind --tool=callgrind --callgrind-out-file=/dev/null "${cmd[@]}" --only "$t" \
					--objects "$objs" --batches 1 --warmup 4096 >"$TMP/out" 2>"$TMP/err"; then
					echo "pkt.sh: $a under callgrind failed:" >&2
					tail -5 "$TMP/err" >&2
					exit 1
				fi
				ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
			done
			IR[$a $t]=$(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$CG_OBJECTS" 'BEGIN { printf "%.1f", (b - a) / n }')
		done
	done
	echo
	echo "Instructions per buffer (alloc + free) under callgrind, $CG_OBJECTS buffers per test (the"
	echo "difference of runs with $CG_OBJECTS and 0 buffers); dpdk/slabd > 1: slabd runs fewer. xfer: the"
	echo "pipeline's allocator work in one thread (alloc_bulk of 32 as CPU/lcore 0, write, check, free_bulk"
	echo "of a variable count as CPU/lcore 1: buffers return through the depot or the mempool ring)."
	echo
	echo "| test | n | slabd | slabd, library calls | dpdk | dpdk/slabd |"
	echo "|---|---:|---:|---:|---:|---:|"
	for t in single:1 single:32 bulk:8 bulk:32 xfer:32; do
		s=${IR[slabd $t]}
		l=${IR[slabd-lib $t]:--}
		d=${IR[dpdk $t]:-}
		if [[ -n $d ]]; then
			echo "| ${t%:*} | ${t#*:} | $s | $l | $d | $(awk -v s="$s" -v d="$d" 'BEGIN { printf "%.2f", d / s }') |"
		else
			echo "| ${t%:*} | ${t#*:} | $s | $l | - | - |"
		fi
	done
fi
((RUNS)) || exit 0
echo
echo "Median over $RUNS rounds of TSC cycles per buffer (alloc + free), [min-max over the rounds];"
echo "dpdk/slabd > 1: slabd is faster. pipe: per packet, producer and consumer on two CPUs, the"
echo "median over intervals of 16384 packets after a warm-up of 262144 (pipe-run: the whole timed"
echo "part; neither includes starting or stopping the consumer). xcpu: the cycles of one cache"
echo "line's round trip between the two CPUs, before and after each program's pipeline (the same"
echo "code in both programs; not an allocator figure: the VM's cross-CPU latency the round ran under)."
echo
sort -k2,2 -k3,3 -k4,4n -k5,5g "$TMP/raw" | awk '
	function out() { m = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2; print prev, m, v[1], v[c] }
	{ key = $2 " " $3 " " $4; if (NR > 1 && key != prev) { out(); c = 0 } v[++c] = $5; prev = key }
	END { if (NR) out() }' | awk '
	{ k = $2 " " $3; med[$1 " " k] = $4; lo[$1 " " k] = $5; hi[$1 " " k] = $6; if (!(k in seen)) { seen[k] = 1; rows[++n] = k } }
	END {
		print "| test | n | slabd | dpdk | dpdk/slabd | dpdk/slabd, best rounds |"
		print "|---|---:|---:|---:|---:|---:|"
		no = split("single 1,single 32,bulk 8,bulk 32,pipe 32,pipe-run 32,xcpu 1", order, ",")
		for (i = 1; i <= no; i++) {
			k = order[i]; if (!(k in seen)) continue
			split(k, f, " "); s = "slabd " k; d = "dpdk " k
			printf "| %s | %s | %.1f [%.1f-%.1f] |", f[1], f[2], med[s], lo[s], hi[s]
			if (d in med) printf " %.1f [%.1f-%.1f] | %.2f | %.2f |\n", med[d], lo[d], hi[d], med[d] / med[s], lo[d] / lo[s]
			else printf " - | - | - |\n"
		}
	}'
grep -q ' xcpu ' "$TMP/raw" || exit 0
echo
echo "Each round's pipeline (cycles per packet, the median over intervals) with the cross-CPU"
echo "round trip measured around it, in the order run:"
echo
echo "| round | slabd pipe | slabd xcpu | dpdk pipe | dpdk xcpu |"
echo "|---:|---:|---:|---:|---:|"
awk -v n="${#ALLOCS[@]}" '
	$3 == "pipe" { p[$2] = $5 } $3 == "xcpu" { x[$2] = $5; if (++k % n == 0) {
		printf "| %d | %s | %s | %s | %s |\n", k / n, p["slabd"], x["slabd"], ("dpdk" in p) ? p["dpdk"] : "-", ("dpdk" in x) ? x["dpdk"] : "-" } }' "$TMP/raw"
