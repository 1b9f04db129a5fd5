#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# all.sh - the whole comparison in one command: build, run every benchmark against slabd
# and its peers (medians of --runs rounds, pinned), and write the report, a table of the
# ratios to slabd, and a PNG plot to the results directory (default bench/results/).
#
# Parts (each can be left out with --skip NAME[,NAME...]):
#   kbench     run.sh: kmalloc+kfree pair per size class, pair-rt, burst64 (64-then-64),
#              cross-thread handoff, 8 threads on 2 CPUs, fresh/live; slabd, glibc,
#              jemalloc, tcmalloc, tcmalloc_minimal, mimalloc (LD_PRELOAD)
#   bulk       bulk.sh: kmem_cache_*_bulk against rte_mempool_*_bulk (n = 1, 8, 32)
#   handoff    cross-thread handoff of single cache objects: kmem_cache_alloc/free against
#              rte_mempool_get/put with the consumer on a second EAL lcore (bulkbench)
#   xproc      cross-process handoff: xproc-slabd, and xproc-dpdk (a DPDK secondary
#              process; without hugepages its set-up fails and the report says why)
#   callgrind  instructions per pair (run.sh --callgrind-only; slabd's real fast path
#              through --fake-cpu), per bulk object and per handed-off object (bulkbench
#              under callgrind, bulk and handoff-cg)
#   memory     kbench --test memory: RSS (peers) or the region's allocated bytes (slabd,
#              default config and retain_free=0) at the peak, after the frees and after
#              --mem-delay seconds, with slabctl stats --json at each look
#   cpu        the daemon's CPU time (utime+stime from /proc/PID/stat, and the threads'
#              schedstat run time) while idle and while kbench-slabd loads it
#
# Usage: bench/all.sh [OPTIONS] [BUILD_DIR]
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [OPTIONS] [BUILD_DIR]
  --runs N          rounds of every timed part, medians reported (default \$RUNS or 5)
  --out DIR         results directory (default bench/results next to this script)
  --skip LIST       parts to leave out: kbench,bulk,handoff,xproc,callgrind,memory,cpu
  --quick           small counts for a check of the tooling (numbers mean little)
  --mem-delay S     memory: seconds after the frees before the last look (default 25: idle drain 5 s + idle shrink 5 s + release delay 5 s, with margin)
  --mem-objects N   memory: 64-B objects live at the peak (default 524288: 32 MiB)
  --idle S          cpu: seconds of each idle measurement (default 30)
  --no-build        do not run ninja first
  -h, --help        this text
EOF
}

unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_ GLIBC_TUNABLES

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$here/../build
OUT=$here/results
RUNS=${RUNS:-5}
SKIP=,
QUICK=0
MEM_DELAY=25
MEM_OBJECTS=524288
IDLE=30
DO_BUILD=1
while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--skip) SKIP=",$2,"; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--mem-delay) MEM_DELAY=$2; shift 2 ;;
	--mem-objects) MEM_OBJECTS=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--no-build) DO_BUILD=0; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "all.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
for v in RUNS MEM_DELAY MEM_OBJECTS IDLE; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
		echo "all.sh: ${v,,} must be a positive number" >&2
		exit 2
	fi
done
want() { [[ $SKIP != *",$1,"* ]]; }
log() { echo "all.sh: $*" >&2; }

BUILD=$(cd "$BUILD" && pwd)
if ((DO_BUILD)); then
	log "building: ninja -C $BUILD"
	ninja -C "$BUILD" >&2
fi
SLABD=$BUILD/daemon/slabd
SLABCTL=$BUILD/tools/slabctl
KS=$BUILD/bench/kbench-slabd
KM=$BUILD/bench/kbench-malloc
BS=$BUILD/bench/bulkbench-slabd
BD=$BUILD/bench/bulkbench-dpdk
XS=$BUILD/bench/xproc-slabd
XD=$BUILD/bench/xproc-dpdk
for f in "$SLABD" "$SLABCTL" "$KS" "$KM" "$BS" "$XS"; do
	[[ -x $f ]] || { echo "all.sh: $f is missing; build first: ninja -C $BUILD" >&2; exit 1; }
done
if (($(nproc) < 2)); then
	echo "all.sh: the handoff and thread tests need two CPUs" >&2
	exit 1
fi

mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw
rm -f "$RAW"/* # only this run's files: a skipped part must not leave an older run's behind
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slabd-all.XXXXXX")
# shellcheck source=bench/common.sh
source "$here/common.sh"
DAEMONS=()
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${DAEMONS[@]}"; do
		DPID=$p stop_slabd all.sh
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Counts: --quick makes every part short enough to check the tooling in a minute or two.
if ((QUICK)); then
	KB_ARGS=(-- --batches 31 --warmup 4096 --objects 100000 --reps 3)
	BB_ARGS=(-- --batches 31 --warmup 4096)
	HO_ARGS=(--handoff-objects 100000 --reps 3 --warmup 4096)
	XP_ARGS=(--objects 100000 --reps 3 --warmup 4096)
	CG_ITERS=6400
else
	KB_ARGS=()
	BB_ARGS=()
	HO_ARGS=()
	XP_ARGS=()
	CG_ITERS=200000
fi

LIBDIR=${LIBDIR:-/usr/lib/x86_64-linux-gnu}
declare -A SO=(
	[jemalloc]=$LIBDIR/libjemalloc.so.2
	[tcmalloc]=$LIBDIR/libtcmalloc.so.4
	[tcmalloc_minimal]=$LIBDIR/libtcmalloc_minimal.so.4
	[mimalloc]=$LIBDIR/libmimalloc.so.2
)
PEERS=(glibc)
for p in jemalloc tcmalloc tcmalloc_minimal mimalloc; do
	[[ -e ${SO[$p]} ]] && PEERS+=("$p")
done
NOTES=()
note() { NOTES+=("$*"); echo "- $*" >>"$RAW/notes.txt"; log "note: $*"; }
: >"$RAW/notes.txt"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$RAW/load.txt"
date '+%Y-%m-%d %H:%M:%S %Z' >"$RAW/date.txt"

# ------------------------------------------------------------ daemon helpers --
CLK_TCK=$(getconf CLK_TCK)
# cpu_of PID: "ticks ns slices": utime+stime (clock ticks), the sum of the threads' run
# time (ns) and of their time slices (about the wake-ups), from /proc/PID/task/*/schedstat,
# all since the process started.
cpu_of() {
	local ticks ns=0 sl=0 t v w s
	ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
	for t in /proc/"$1"/task/*/schedstat; do
		read -r v w s <"$t" && ns=$((ns + v)) && sl=$((sl + s))
	done
	echo "$ticks $ns $sl"
}
# cpu_window LABEL PID SECONDS-or-COMMAND...: the daemon's CPU use over a sleep or over a
# command's run, one line "LABEL wall_s ticks ns slices" into cpu.txt.
cpu_window() {
	local label=$1 pid=$2 a b t0 t1
	shift 2
	a=$(cpu_of "$pid")
	t0=$(date +%s.%N)
	if [[ $1 =~ ^[0-9]+$ ]]; then
		sleep "$1"
	else
		"$@" >>"$RAW/cpu-load-output.txt" 2>&1
	fi
	t1=$(date +%s.%N)
	b=$(cpu_of "$pid")
	echo "$label $(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f", t1 - t0 }') \
$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); print y[1] - x[1], y[2] - x[2], y[3] - x[3] }')" >>"$RAW/cpu.txt"
}

# ---------------------------------------------------------------- kbench --
if want kbench; then
	log "kbench (run.sh --runs $RUNS)"
	"$here/run.sh" --runs "$RUNS" --no-ownrseq --raw "$RAW/kbench.txt" "$BUILD" "${KB_ARGS[@]}" \
		>"$RAW/kbench.md"
fi

# ------------------------------------------------------------------ bulk --
if want bulk; then
	log "bulk (bulk.sh --runs $RUNS)"
	"$here/bulk.sh" --runs "$RUNS" --no-setup --raw "$RAW/bulk.txt" "$BUILD" "${BB_ARGS[@]}" >"$RAW/bulk.md"
fi

# ------------------------------------------------- the suite's own daemon --
SOCK=$TMP/slabd.sock
start_slabd all.sh "$SLABD" "$SOCK" "$TMP/slabd.log"
MAIN_PID=$DPID
DAEMONS+=("$DPID")
echo "$BACKING" >"$RAW/backing.txt"

if want cpu; then
	# The daemon faults its zone in at start and gives the free chunks back after
	# release_delay_ms (5 s): let that pass before calling it idle.
	sleep 7
	log "cpu: idle daemon, no client, ${IDLE} s"
	cpu_window idle-fresh "$MAIN_PID" "$IDLE"
fi

# --------------------------------------------- single-object handoff, DPDK --
if want handoff; then
	H=(slabd)
	if [[ -x $BD ]]; then H+=(dpdk); else note "handoff: bulkbench-dpdk not built (no DPDK): slabd only"; fi
	for ((r = 0; r < RUNS; r++)); do
		for ((j = 0; j < ${#H[@]}; j++)); do
			a=${H[$(((r + j) % ${#H[@]}))]}
			log "handoff round $((r + 1))/$RUNS: $a"
			case $a in
			slabd) "$BS" --socket "$SOCK" --test handoff "${HO_ARGS[@]}" >"$TMP/out" ;;
			dpdk) "$BD" --test handoff "${HO_ARGS[@]}" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; } ;;
			esac
			grep '^bulkbench ' "$TMP/out" >>"$RAW/handoff.txt"
		done
	done
fi

# ---------------------------------------------------- cross-process handoff --
if want xproc; then
	X=(slabd)
	XD_ARGS=()
	if [[ -x $XD ]]; then
		log "xproc: trying DPDK multi-process (primary + secondary, --no-huge)"
		if timeout 120 "$XD" --objects 1000 --reps 1 --warmup 1000 >"$TMP/out" 2>"$TMP/err"; then
			X+=(dpdk)
		elif grep -qs hugetlbfs /proc/mounts && (($(awk '/HugePages_Free/ {print $2}' /proc/meminfo) >= 32)) &&
			log "xproc: trying DPDK multi-process on hugepages (-m 64)" &&
			timeout 120 "$XD" --huge --objects 1000 --reps 1 --warmup 1000 >"$TMP/out" 2>"$TMP/err2"; then
			X+=(dpdk)
			XD_ARGS=(--huge)
			note "xproc: DPDK's multi-process mode ran on hugepages (\`xproc-dpdk --huge\`: EAL -m 64 on" \
				"hugetlbfs): with --no-huge a secondary process has no hugepage_data to attach to."
		else
			note "xproc: DPDK's multi-process mode does not work here: $(grep -v '^#' "$TMP/err" | tr '\n' ' ' | sed 's/ *$//')." \
				"Without hugepages the EAL runs in legacy no-huge mode: its memory is private anonymous" \
				"memory with no hugepage_data file, so a secondary process has nothing to attach to." \
				"DPDK's cross-process number would need reserved hugepages; compare slabd's cross-process" \
				"handoff with DPDK's cross-thread one (handoff table) instead."
		fi
	else
		note "xproc: xproc-dpdk not built (no DPDK): slabd only"
	fi
	for ((r = 0; r < RUNS; r++)); do
		for ((j = 0; j < ${#X[@]}; j++)); do
			a=${X[$(((r + j) % ${#X[@]}))]}
			log "xproc round $((r + 1))/$RUNS: $a"
			case $a in
			slabd) timeout 600 "$XS" --socket "$SOCK" "${XP_ARGS[@]}" >"$TMP/out" ;;
			dpdk) timeout 600 "$XD" "${XD_ARGS[@]}" "${XP_ARGS[@]}" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; } ;;
			esac
			grep '^xproc ' "$TMP/out" >>"$RAW/xproc.txt"
		done
	done
fi

# ------------------------------------------------------ daemon under load --
if want cpu; then
	log "cpu: daemon under load (kbench-slabd pair,burst64,handoff,threads)"
	cpu_window load-kbench "$MAIN_PID" env SLABD_SOCKET="$SOCK" "$KS" --test pair,burst64,handoff,threads --size 64
	log "cpu: daemon under load (cross-process handoff)"
	cpu_window load-xproc "$MAIN_PID" "$XS" --socket "$SOCK" --objects 2000000 --reps 3
	log "cpu: idle daemon after the load, no client, ${IDLE} s"
	cpu_window idle-after "$MAIN_PID" "$IDLE"
fi

# -------------------------------------------------------------- callgrind --
if want callgrind; then
	if command -v valgrind >/dev/null; then
		log "callgrind: kbench (run.sh --callgrind-only)"
		"$here/run.sh" --callgrind-only --no-ownrseq --callgrind-iters "$CG_ITERS" "$BUILD" >"$RAW/callgrind-kbench.md"
		log "callgrind: bulkbench"
		: >"$RAW/callgrind-bulk.txt"
		B=(slabd)
		[[ -x $BD ]] && B+=(dpdk)
		for a in "${B[@]}"; do
			for n in 1 8 32; do
				ir=()
				for objs in 0 $((CG_ITERS / 4)); do
					case $a in
					slabd) cmd=("$BS" --socket "$SOCK" --fake-cpu 0) ;;
					dpdk) cmd=("$BD") ;;
					esac
					if ! valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "${cmd[@]}" --test bulk \
						--counts "$n" --objects "$objs" --batches 1 --warmup 4096 >"$TMP/out" 2>"$TMP/err"; then
						note "callgrind: bulkbench-$a does not run under valgrind: $(grep -m3 -iE 'error|fatal|cannot' "$TMP/err" | tr '\n' ' ')"
						continue 3
					fi
					ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
				done
				objs=$(((CG_ITERS / 4 + n - 1) / n * n))
				echo "$a bulk $n $(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$objs" 'BEGIN { printf "%.1f", (b - a) / n }')" \
					>>"$RAW/callgrind-bulk.txt"
			done
		done
		# the handoff's instructions, both allocators in one harness: single allocations
		# as one CPU (lcore), their frees as the next (bulkbench.c, handoff-cg)
		log "callgrind: bulkbench handoff-cg"
		: >"$RAW/callgrind-handoff.txt"
		for a in "${B[@]}"; do
			ir=()
			for objs in 25600 $((25600 + CG_ITERS)); do
				case $a in
				slabd) cmd=("$BS" --socket "$SOCK" --fake-cpu 0) ;;
				dpdk) cmd=("$BD") ;;
				esac
				if ! valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "${cmd[@]}" --test handoff-cg \
					--handoff-objects "$objs" >"$TMP/out" 2>"$TMP/err"; then
					note "callgrind: bulkbench-$a handoff-cg does not run under valgrind: $(grep -m3 -iE 'error|fatal|cannot' "$TMP/err" | tr '\n' ' ')"
					continue 2
				fi
				ir+=("$(grep -o 'Collected : [0-9]*' "$TMP/err" | awk '{ print $3 }')")
			done
			echo "$a handoff-cg 1 $(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$CG_ITERS" 'BEGIN { printf "%.1f", (b - a) / n }')" \
				>>"$RAW/callgrind-handoff.txt"
		done
	else
		note "callgrind: valgrind is not installed (scripts/setup.sh --bench)"
	fi
fi

# ----------------------------------------------------------------- memory --
if want memory; then
	MEM_MS=$((MEM_DELAY * 1000))
	# Two daemons of their own: the default configuration and one with retain_free = 0
	# given explicitly (the default since session 4; before, 32 MiB stayed resident for
	# reuse): everything free for release_delay_ms goes back. They release their initially faulted zones while the peers run.
	# The DMA zone (pinned and never given back, by design) is left out: dma_zone_size=0.
	start_slabd all.sh "$SLABD" "$TMP/mem-default.sock" "$TMP/mem-default.log" -o dma_zone_size=0
	MEM_DEFAULT_PID=$DPID
	DAEMONS+=("$DPID")
	start_slabd all.sh "$SLABD" "$TMP/mem-r0.sock" "$TMP/mem-r0.log" -o retain_free=0 -o dma_zone_size=0
	MEM_R0_PID=$DPID
	DAEMONS+=("$DPID")
	MEM_ARGS=(--test memory --mem-objects "$MEM_OBJECTS" --mem-size 64 --mem-delay-ms "$MEM_MS")
	: >"$RAW/memory.txt"
	for a in "${PEERS[@]}"; do
		log "memory: $a (${MEM_DELAY} s)"
		if [[ $a == glibc ]]; then
			"$KM" --name glibc "${MEM_ARGS[@]}" >"$TMP/out"
		else
			LD_PRELOAD=${SO[$a]} "$KM" --name "$a" "${MEM_ARGS[@]}" >"$TMP/out"
		fi
		grep '^kmem ' "$TMP/out" >>"$RAW/memory.txt"
	done
	# at least release_delay_ms + a scan since the daemons started
	sleep 7
	for cfg in default r0; do
		if [[ $cfg == default ]]; then pid=$MEM_DEFAULT_PID; else pid=$MEM_R0_PID; fi
		name=slabd; [[ $cfg == r0 ]] && name=slabd-retain0
		log "memory: $name (${MEM_DELAY} s)"
		SLABD_SOCKET=$TMP/mem-$cfg.sock "$KS" --name "$name" "${MEM_ARGS[@]}" \
			--mem-cmd "\"$SLABCTL\" --socket \"$TMP/mem-$cfg.sock\" stats --json >\"$RAW/memory-$name-\$KBENCH_PHASE.json\"; \
grep -E '^(VmRSS|RssAnon|RssShmem):' /proc/$pid/status >\"$RAW/memory-$name-\$KBENCH_PHASE.daemon\"" \
			>"$TMP/out"
		grep '^kmem ' "$TMP/out" >>"$RAW/memory.txt"
	done
fi

# ----------------------------------------------------------------- report --
log "writing $OUT/report.md, $OUT/summary.tsv and $OUT/ratios.png"
python3 "$here/report.py" --raw "$RAW" --out "$OUT" --runs "$RUNS" --quick "$QUICK" --clk-tck "$CLK_TCK" \
	--mem-delay "$MEM_DELAY" --idle "$IDLE" --peers "${PEERS[*]}"
if command -v gnuplot >/dev/null; then
	(cd "$OUT" && gnuplot ratios.gp) || note "gnuplot failed: no plot"
else
	note "gnuplot is not installed (scripts/setup.sh --bench installs gnuplot-nox): no plot"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/load.txt"
cat "$OUT/report.md"
