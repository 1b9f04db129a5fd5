#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bulk.sh - run bulkbench against slabd (kmem_cache_alloc_bulk/free_bulk) and DPDK's
# mempool (rte_mempool_get_bulk/put_bulk); print a markdown table of medians and the
# ratio dpdk/slabd (> 1: slabd is faster).
#
# Starts a private slabd in a temporary directory (as run.sh does), then runs RUNS rounds;
# each round runs bulkbench-slabd against that daemon and bulkbench-dpdk (EAL on one lcore,
# --no-huge --no-pci --no-shconf), in an order that alternates from round to round. The
# table gives, per (test, n), the median over the rounds of each round's median over
# batches of TSC cycles per object (one allocation plus one free), and the range over the
# rounds.
#
# DPDK is optional. When bulkbench-dpdk was not built: without --no-setup, the script
# installs the Debian packages dpdk-dev and libdpdk-dev if they are missing (as root,
# with apt-get), reconfigures the build directory and builds bulkbench-dpdk; otherwise,
# or when that fails, it runs slabd alone and says in the report that DPDK was skipped.
#
# Usage: bench/bulk.sh [OPTIONS] [BUILD_DIR] [-- BULKBENCH_ARGS...]
#   BUILD_DIR defaults to the build/ directory next to bench/.
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [OPTIONS] [BUILD_DIR] [-- BULKBENCH_ARGS...]
  --runs N      rounds of each allocator (default \$RUNS or 5)
  --no-setup    do not install DPDK or reconfigure the build; skip DPDK if not built
  --no-dpdk     run slabd only
  --raw FILE    also write every raw result line to FILE
  -h, --help    this text
BULKBENCH_ARGS are passed to both programs (e.g. -- --batches 1001).
EOF
}

unset LD_PRELOAD MALLOC_PERTURB_ MALLOC_CHECK_ GLIBC_TUNABLES

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$here/../build
RUNS=${RUNS:-5}
SETUP=1
WANT_DPDK=1
RAW=
BB_ARGS=()
DPDK_PKGS=(dpdk-dev libdpdk-dev)

while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--no-setup) SETUP=0; shift ;;
	--no-dpdk) WANT_DPDK=0; shift ;;
	--raw) RAW=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; BB_ARGS=("$@"); break ;;
	-*) echo "bulk.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
	echo "bulk.sh: --runs must be >= 1" >&2
	exit 2
fi

log() { echo "bulk.sh: $*" >&2; }

BUILD=$(cd "$BUILD" && pwd)
SLABD=$BUILD/daemon/slabd
BS=$BUILD/bench/bulkbench-slabd
BD=$BUILD/bench/bulkbench-dpdk
for f in "$SLABD" "$BS"; do
	if [[ ! -x $f ]]; then
		echo "bulk.sh: $f is missing; build first: ninja -C $BUILD" >&2
		exit 1
	fi
done

# ------------------------------------------------------------------ DPDK --
NOTES=()
dpdk_installed() { pkg-config --exists libdpdk 2>/dev/null; }

if ((WANT_DPDK)) && [[ ! -x $BD ]] && ((SETUP)); then
	if ! dpdk_installed; then
		if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
			log "installing ${DPDK_PKGS[*]} (apt-get)"
			export DEBIAN_FRONTEND=noninteractive
			if ! apt-get install -y -qq --no-install-recommends "${DPDK_PKGS[@]}" >&2; then
				apt-get update -qq >&2 || true
				apt-get install -y -qq --no-install-recommends "${DPDK_PKGS[@]}" >&2 ||
					log "apt-get install ${DPDK_PKGS[*]} failed"
			fi
		else
			log "DPDK is not installed and this is not root with apt-get: skipping it" \
				"(install ${DPDK_PKGS[*]} and rebuild)"
		fi
	fi
	if dpdk_installed; then
		log "DPDK found; reconfiguring $BUILD and building bulkbench-dpdk"
		if meson setup --reconfigure "$BUILD" "$here/.." >&2 && ninja -C "$BUILD" >&2; then
			:
		else
			log "could not build bulkbench-dpdk"
		fi
	fi
fi
ALLOCS=(slabd)
if ((!WANT_DPDK)); then
	NOTES+=("DPDK not run (--no-dpdk)")
elif [[ -x $BD ]]; then
	ALLOCS+=(dpdk)
else
	if dpdk_installed; then
		why="DPDK is installed but $BUILD was configured without it: meson setup --reconfigure $BUILD"
	else
		why="DPDK is not installed: apt-get install ${DPDK_PKGS[*]}, then meson setup --reconfigure $BUILD"
	fi
	NOTES+=("skipped dpdk: $BD was not built ($why)")
	log "skipping DPDK: $BD was not built ($why)"
fi

# ------------------------------------------------------------ the daemon --
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulkbench.XXXXXX")
SOCK=$TMP/slabd.sock
DPID=
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_slabd bulk.sh
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_slabd bulk.sh "$SLABD" "$SOCK" "$TMP/slabd.log"

run_one() {
	case $1 in
	slabd) "$BS" --socket "$SOCK" ${BB_ARGS[@]+"${BB_ARGS[@]}"} ;;
	dpdk) "$BD" ${BB_ARGS[@]+"${BB_ARGS[@]}"} ;;
	esac
}

# ---------------------------------------------------------------- rounds --
: >"$TMP/raw"
for ((run = 0; run < RUNS; run++)); do
	n=${#ALLOCS[@]}
	for ((j = 0; j < n; j++)); do
		a=${ALLOCS[$(((run + j) % n))]}
		log "round $((run + 1))/$RUNS: $a"
		if ! run_one "$a" >"$TMP/out" 2>"$TMP/err"; then
			echo "bulk.sh: bulkbench-$a failed; its output:" >&2
			cat "$TMP/out" "$TMP/err" >&2
			[[ $a != slabd ]] || { echo "bulk.sh: slabd's log:" >&2; tail -n 20 "$TMP/slabd.log" >&2; }
			exit 1
		fi
		((run)) || grep '^#' "$TMP/out" | sed "s/^# \($a \)\?/$a: /" >>"$TMP/info"
		grep '^bulkbench ' "$TMP/out" >>"$TMP/raw"
	done
done
[[ -z $RAW ]] || cp "$TMP/raw" "$RAW"

# ---------------------------------------------------------------- report --
echo "## bulkbench: slabd kmem_cache_*_bulk against DPDK rte_mempool"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %Z')"
echo "- kernel: $(uname -r) ($(uname -m)); $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
echo "- CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) online CPUs"
echo "- slabd $BACKING"
echo "- system hugepages: $(awk '/^HugePages_Total/ { t = $2 } /^HugePages_Free/ { f = $2 }
	/^Hugepagesize/ { z = $2 " " $3 } END { print t " total, " f " free, of " z }' /proc/meminfo)"
if command -v dpkg-query >/dev/null && dpkg-query -W libdpdk-dev >/dev/null 2>&1; then
	echo "- DPDK: $(dpkg-query -W -f='${Package} ${Version}' libdpdk-dev)"
fi
echo "- command: bench/bulk.sh --runs $RUNS${BB_ARGS[*]:+ -- ${BB_ARGS[*]}}"
for n in "${NOTES[@]}"; do
	echo "- $n"
done
sed 's/^/- /' "$TMP/info"
echo

# medians: "alloc test n median min max" for each key of "bulkbench alloc test n v".
sort -k2,2 -k3,3 -k4,4n -k5,5g "$TMP/raw" | awk '
	function out() {
		m = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
		print prev, m, v[1], v[c]
	}
	{ key = $2 " " $3 " " $4; if (NR > 1 && key != prev) { out(); c = 0 } v[++c] = $5; prev = key }
	END { if (NR) out() }' >"$TMP/med"

echo "### Median TSC cycles per object, alloc + free (lower is better)"
echo
echo "Median over $RUNS rounds of each round's median over batches; [min-max over the rounds]."
echo "bulk: one bulk alloc and one bulk free of n objects, n a compile-time constant;"
echo "bulk-rt: the same, n unknown to the compiler; single: n single allocs, then n single frees."
echo
awk -v allocs="${ALLOCS[*]}" '
	BEGIN { na = split(allocs, A, " ") }
	{ med[$1 " " $2 " " $3] = $4; lo[$1 " " $2 " " $3] = $5; hi[$1 " " $2 " " $3] = $6
	  if (!(($2 " " $3) in seen)) { seen[$2 " " $3] = 1; rows[++nr] = $2 " " $3 } }
	END {
		printf "| test | n |"
		for (i = 1; i <= na; i++) printf " %s |", A[i]
		if (na > 1) printf " dpdk/slabd | dpdk/slabd, best rounds |"
		printf "\n|---|---:|"
		for (i = 1; i <= na; i++) printf "---:|"
		if (na > 1) printf "---:|---:|"
		printf "\n"
		# bulk, bulk-rt, single; n ascending
		nt = split("bulk bulk-rt single", T, " ")
		for (t = 1; t <= nt; t++) {
			m = 0
			for (r = 1; r <= nr; r++) {
				split(rows[r], f, " ")
				if (f[1] == T[t]) ns[++m] = f[2] + 0
			}
			for (x = 1; x <= m; x++)
				for (y = x + 1; y <= m; y++)
					if (ns[y] < ns[x]) { z = ns[x]; ns[x] = ns[y]; ns[y] = z }
			for (x = 1; x <= m; x++) {
				row = T[t] " " ns[x]
				printf "| %s | %d |", T[t], ns[x]
				for (i = 1; i <= na; i++) {
					k = A[i] " " row
					if (k in med) printf " %.1f [%.1f-%.1f] |", med[k], lo[k], hi[k]
					else printf " - |"
				}
				if (na > 1) {
					s = "slabd " row; d = "dpdk " row
					if ((s in med) && (d in med) && med[s] > 0 && lo[s] > 0)
						printf " %.2f | %.2f |", med[d] / med[s], lo[d] / lo[s]
					else printf " - | - |"
				}
				printf "\n"
			}
		}
	}' "$TMP/med"
echo
if ((${#ALLOCS[@]} > 1)); then
	echo "dpdk/slabd > 1: slabd takes fewer cycles per object than DPDK (the target: >= 1)."
	echo "The last column divides the two allocators' fastest rounds: on a shared machine, where"
	echo "other load slows whole rounds down, it is the comparison least touched by that load."
	echo
fi
