#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - run kbench against slabd and the malloc peers; print markdown tables.
#
# Starts a private slabd in a temporary directory, then runs RUNS rounds; each round runs
# kbench-slabd against that daemon twice, as "slabd" (the environment as it is) and as
# "slabd-ownrseq" (GLIBC_TUNABLES=glibc.pthread.rseq=0: glibc leaves rseq to
# libslabclient, which then registers its own area; see README.md for why this matters),
# and kbench-malloc under glibc and, through LD_PRELOAD, under jemalloc, tcmalloc
# (gperftools), tcmalloc_minimal and mimalloc (a peer whose library is missing is skipped,
# with a note). The order of the allocators rotates from round to round so none always
# runs first. The tables give, per (test, size), the median over the rounds of each
# round's median TSC cycles per pair, and the ratios peer/slabd and peer/slabd-ownrseq
# (> 1: slabd is faster).
#
# --callgrind adds instruction counts: each allocator runs the 64-B tests under
# valgrind --tool=callgrind with --iters N and with --iters 0; (Ir(N) - Ir(0)) / N is the
# number of instructions per pair, stable even on a noisy machine. Under valgrind there
# are no restartable sequences: the "slabd" column runs kbench-slabd --fake-cpu 0 (the
# CPU number written into the thread's rseq area, so the real per-CPU fast paths run),
# "slabd-norseq" without it (the no-rseq slow path); see README.md.
#
# Usage: bench/run.sh [OPTIONS] [BUILD_DIR] [-- KBENCH_ARGS...]
#   BUILD_DIR defaults to the build/ directory next to bench/.
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [OPTIONS] [BUILD_DIR] [-- KBENCH_ARGS...]
  --runs N             rounds of every allocator (default \$RUNS or 5)
  --callgrind          also count instructions per pair under callgrind
  --callgrind-only     only the callgrind counts
  --callgrind-iters N  pairs in the counted callgrind run (default 200000, a multiple of 64)
  --no-ownrseq         do not run the slabd-ownrseq variant
  --raw FILE           also write every raw result line to FILE
  -h, --help           this text
KBENCH_ARGS are passed to every timed kbench run (e.g. -- --batches 1001).
Peers are looked up in \$LIBDIR (default /usr/lib/x86_64-linux-gnu).
EOF
}

# Inherited settings that would change what an allocator does: the glibc column must be
# glibc as shipped, each peer only its own library.
unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_ GLIBC_TUNABLES

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$here/../build
RUNS=${RUNS:-5}
CALLGRIND=0
CYCLES=1
CG_ITERS=200000
RAW=
OWNRSEQ=1
KBENCH_ARGS=()

while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--callgrind) CALLGRIND=1; shift ;;
	--callgrind-only) CALLGRIND=1; CYCLES=0; shift ;;
	--callgrind-iters) CG_ITERS=$2; shift 2 ;;
	--no-ownrseq) OWNRSEQ=0; shift ;;
	--raw) RAW=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; KBENCH_ARGS=("$@"); break ;;
	-*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
if ! [[ $RUNS =~ ^[1-9][0-9]*$ && $CG_ITERS =~ ^[1-9][0-9]*$ ]] || ((CG_ITERS % 64)); then
	echo "run.sh: --runs must be >= 1 and --callgrind-iters a positive multiple of 64" >&2
	exit 2
fi

BUILD=$(cd "$BUILD" && pwd)
SLABD=$BUILD/daemon/slabd
KS=$BUILD/bench/kbench-slabd
KM=$BUILD/bench/kbench-malloc
for f in "$SLABD" "$KS" "$KM"; do
	if [[ ! -x $f ]]; then
		echo "run.sh: $f is missing; build first: ninja -C $BUILD" >&2
		exit 1
	fi
done

LIBDIR=${LIBDIR:-/usr/lib/x86_64-linux-gnu}
declare -A SO=(
	[jemalloc]=$LIBDIR/libjemalloc.so.2
	[tcmalloc]=$LIBDIR/libtcmalloc.so.4
	[tcmalloc_minimal]=$LIBDIR/libtcmalloc_minimal.so.4
	[mimalloc]=$LIBDIR/libmimalloc.so.2
)
ALLOCS=(slabd)
((OWNRSEQ)) && ALLOCS+=(slabd-ownrseq)
ALLOCS+=(glibc)
NOTES=()
for peer in jemalloc tcmalloc tcmalloc_minimal mimalloc; do
	if [[ -e ${SO[$peer]} ]]; then
		ALLOCS+=("$peer")
	else
		NOTES+=("skipped $peer: ${SO[$peer]} not found")
		echo "run.sh: skipping $peer: ${SO[$peer]} not found" >&2
	fi
done
# Under valgrind there is no rseq at all, so slabd-ownrseq would repeat slabd there.
CG_ALLOCS=()
for a in "${ALLOCS[@]}"; do
	[[ $a == slabd-ownrseq ]] || CG_ALLOCS+=("$a")
	[[ $a != slabd ]] || CG_ALLOCS+=(slabd-norseq)
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kbench.XXXXXX")
SOCK=$TMP/slabd.sock
DPID=
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_slabd run.sh
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "run.sh: $*" >&2; }

# ---------------------------------------------------------------- the daemon --
start_slabd run.sh "$SLABD" "$SOCK" "$TMP/slabd.log"

# run_kbench ALLOC ARGS...: one kbench run for ALLOC; its stdout on stdout.
run_kbench() {
	local a=$1
	shift
	case $a in
	slabd) SLABD_SOCKET=$SOCK "${PREFIX[@]}" "$KS" "$@" ;;
	slabd-norseq) SLABD_SOCKET=$SOCK "${PREFIX[@]}" "$KS" --name slabd-norseq "$@" ;;
	slabd-ownrseq)
		GLIBC_TUNABLES=glibc.pthread.rseq=0 SLABD_SOCKET=$SOCK \
			"${PREFIX[@]}" "$KS" --name slabd-ownrseq "$@" ;;
	glibc) "${PREFIX[@]}" "$KM" --name glibc "$@" ;;
	*) LD_PRELOAD=${SO[$a]} "${PREFIX[@]}" "$KM" --name "$a" "$@" ;;
	esac
}

# check_preload ALLOC OUTPUT: warn when a peer's library was not mapped after all.
check_preload() {
	[[ -n ${SO[$1]:-} ]] || return 0
	if ! grep -qxF "# mapped $(readlink -f "${SO[$1]}")" "$2"; then
		log "warning: ${SO[$1]} does not show in kbench's maps: LD_PRELOAD did not take"
		NOTES+=("warning: LD_PRELOAD of ${SO[$1]} did not show in /proc/self/maps")
	fi
}

# --------------------------------------------------------------- the header --
echo "## kbench: slabd against malloc peers"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
echo "- kernel: $(uname -r) ($(uname -m)); $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
echo "- CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) online CPUs"
echo "- slabd $BACKING"
echo "- system hugepages: $(awk '/^HugePages_Total/ { t = $2 } /^HugePages_Free/ { f = $2 }
	/^Hugepagesize/ { z = $2 " " $3 } END { print t " total, " f " free, of " z }' /proc/meminfo);" \
	"transparent hugepages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo n/a)"
echo "- glibc: $(ldd --version 2>&1 | head -n1)"
if command -v dpkg-query >/dev/null; then
	echo "- peers: $(dpkg-query -W -f='${Package} ${Version}, ' libjemalloc2 libgoogle-perftools4 \
		libtcmalloc-minimal4 libmimalloc2.0 2>/dev/null | sed 's/, $//')"
fi
echo "- command: bench/run.sh --runs $RUNS$( ((CALLGRIND)) && echo " --callgrind (--callgrind-iters $CG_ITERS)")" \
	"${KBENCH_ARGS[*]:+-- ${KBENCH_ARGS[*]}}"
for n in "${NOTES[@]}"; do
	echo "- $n"
done
echo

# rows_of MEDIANS: the (test, size) rows in a fixed order.
rows_of() {
	awk '{ r = $2 == "pair" ? 1 : $2 == "pair-rt" ? 2 : $2 == "burst64" ? 3 : $2 == "handoff" ? 4 : $2 ~ /^threads/ ? 5 : $2 == "fresh" ? 6 : 7; print r, $2, $3 }' "$1" |
		sort -k1,1n -k3,3n -u | cut -d' ' -f2,3
}

# medians RAW: "alloc test size median" for each key of the raw "kbench alloc test size v"
# (the handoff's per-repetition lines, "handoff-rep ... v xcpu before after", are for report.py).
medians() {
	{ grep -v ' handoff-rep ' "$1" || true; } | sort -k2,2 -k3,3 -k4,4n -k5,5g | awk '
		function out() { print prev, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
		{ key = $2 " " $3 " " $4; if (NR > 1 && key != prev) { out(); n = 0 } v[++n] = $5; prev = key }
		END { if (NR) out() }'
}

# table ROWS MEDIANS ALLOCS [BASE]: one markdown table of the values of ALLOCS (a
# space-separated list) or, given BASE, of the ratios ALLOC/BASE for the others.
table() {
	awk -v allocs="$3" -v base="${4:-}" '
		BEGIN { na = split(allocs, A, " ") }
		FNR == NR { rows[++nr] = $1 " " $2; next }
		{ val[$1 " " $2 " " $3] = $4 }
		END {
			printf "| test | size |"
			for (i = 1; i <= na; i++)
				if (base == "") printf " %s |", A[i]
				else if (A[i] != base) printf " %s/%s |", A[i], base
			printf "\n|---|---:|"
			for (i = 1; i <= na; i++) if (A[i] != base) printf "---:|"
			printf "\n"
			for (r = 1; r <= nr; r++) {
				printf "| %s | %s |", substr(rows[r], 1, index(rows[r], " ") - 1),
					substr(rows[r], index(rows[r], " ") + 1)
				b = base " " rows[r]
				for (i = 1; i <= na; i++) {
					k = A[i] " " rows[r]
					if (A[i] == base)
						continue
					if (!(k in val) || (base != "" && !(val[b] > 0)))
						printf " - |"
					else if (base == "")
						printf " %.1f |", val[k]
					else
						printf " %.2f |", val[k] / val[b]
				}
				printf "\n"
			}
		}' "$1" "$2"
}

# ------------------------------------------------------------ timed rounds --
if ((CYCLES)); then
	PREFIX=()
	: >"$TMP/raw"
	for ((run = 0; run < RUNS; run++)); do
		n=${#ALLOCS[@]}
		for ((j = 0; j < n; j++)); do
			a=${ALLOCS[$(((run + j) % n))]}
			log "round $((run + 1))/$RUNS: $a"
			if ! run_kbench "$a" ${KBENCH_ARGS[@]+"${KBENCH_ARGS[@]}"} >"$TMP/out"; then
				echo "run.sh: kbench for $a failed; its output:" >&2
				cat "$TMP/out" >&2
				exit 1
			fi
			((run)) || check_preload "$a" "$TMP/out"
			grep "^kbench " "$TMP/out" >>"$TMP/raw"
		done
	done
	[[ -z $RAW ]] || cp "$TMP/raw" "$RAW"
	medians "$TMP/raw" >"$TMP/med"
	rows_of "$TMP/med" >"$TMP/rows"

	echo "### Median TSC cycles per alloc+free pair (lower is better)"
	echo
	echo "Median over $RUNS rounds of each round's median over batches; handoff: cycles per object."
	echo
	table "$TMP/rows" "$TMP/med" "${ALLOCS[*]}"
	echo
	echo "### Ratio peer/slabd (> 1: slabd is faster)"
	echo
	table "$TMP/rows" "$TMP/med" "${ALLOCS[*]}" slabd
	echo
	if ((OWNRSEQ)); then
		echo "### Ratio peer/slabd-ownrseq (> 1: slabd-ownrseq is faster)"
		echo
		table "$TMP/rows" "$TMP/med" "${ALLOCS[*]}" slabd-ownrseq
		echo
	fi
fi

# -------------------------------------------------------------- callgrind --
if ((CALLGRIND)); then
	if ! command -v valgrind >/dev/null; then
		echo "run.sh: --callgrind needs valgrind (apt-get install valgrind)" >&2
		exit 1
	fi
	PREFIX=(valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out")
	: >"$TMP/cg"
	RSEQ_NOTE=
	for a in "${CG_ALLOCS[@]}"; do
		for t in pair pair-rt burst64; do
			ir=()
			fake=()
			[[ $a != slabd ]] || fake=(--fake-cpu 0)
			for it in 0 "$CG_ITERS"; do
				log "callgrind: $a $t --iters $it"
				if ! run_kbench "$a" --test "$t" --size 64 --iters "$it" --batches 1 --warmup 4096 "${fake[@]}" \
					>"$TMP/out" 2>"$TMP/err"; then
					echo "run.sh: kbench for $a under callgrind failed:" >&2
					cat "$TMP/out" "$TMP/err" >&2
					exit 1
				fi
				ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
				if [[ -z ${ir[-1]} ]]; then
					echo "run.sh: no 'Collected :' total in callgrind's output:" >&2
					cat "$TMP/err" >&2
					exit 1
				fi
				if [[ $a == slabd-norseq ]] && grep -q '^# rseq registered by glibc: no' "$TMP/out"; then
					RSEQ_NOTE=1
				fi
				if [[ $a == slabd ]] && ! grep -q '^# fake rseq cpu' "$TMP/out"; then
					echo "run.sh: kbench-slabd under callgrind did not take --fake-cpu" >&2
					exit 1
				fi
			done
			echo "$a $t 64 $(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$CG_ITERS" \
				'BEGIN { printf "%.1f", (b - a) / n }')" >>"$TMP/cg"
		done
	done
	rows_of "$TMP/cg" >"$TMP/cgrows"

	echo "### Instructions per alloc+free pair under callgrind (Ir, lower is better)"
	echo
	echo "(Ir with --iters $CG_ITERS minus Ir with --iters 0) / $CG_ITERS; same warm-up in both runs."
	echo "slabd: valgrind has no rseq; kbench-slabd --fake-cpu 0 writes CPU 0 into the thread's"
	echo "rseq area, so the real inline per-CPU fast path runs (valgrind never preempts a sequence)."
	if [[ -n $RSEQ_NOTE ]]; then
		echo "slabd-norseq: the same without --fake-cpu: every operation takes the no-rseq slow path"
		echo "(depot magazine pop/push with a CAS), what a kernel without rseq would get."
	fi
	echo
	table "$TMP/cgrows" "$TMP/cg" "${CG_ALLOCS[*]}"
	echo
	echo "### Instruction ratio peer/slabd"
	echo
	table "$TMP/cgrows" "$TMP/cg" "${CG_ALLOCS[*]}" slabd
	echo
fi
