#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# smoke.sh - a quick correctness check of the benchmark programs against a private slabd
# (meson test "bench-smoke"; nothing here is timed or compared):
#   - bulkbench-slabd: its check_pool() (2000 rounds of bulk and single calls of 1..64
#     objects: every object distinct, not also held, written and read back) must pass;
#   - xproc-slabd: objects allocated in one process and freed in another, 3 x 20000, each
#     repetition with its cross-CPU round trip (the consumer process answers it);
#   - bulkbench-slabd and kbench-slabd --test handoff: one handoff-rep line per repetition,
#     with a round trip;
#   - kbench-slabd --test memory: at the peak the zones' allocated bytes must cover the
#     live bytes, and slabctl must report them in use;
#   - kbench-slabd --fake-cpu must refuse to run where rseq is real;
#   - the DPDK programs, where built, must leave no runtime directory of their own
#     (<runtime>/dpdk/<prog>-<pid>) behind, also when the EAL or the run fails;
#   - bulkbench --test handoff-cg: slabd's refuses without valgrind's --fake-cpu and runs
#     as two CPUs under valgrind; DPDK's runs.
# Usage: bench/smoke.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:?usage: smoke.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset LD_PRELOAD GLIBC_TUNABLES
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
DPID=
# shellcheck source=bench/common.sh
source "$here/common.sh"
trap 'stop_slabd smoke.sh; rm -rf "$TMP"' EXIT
fail() { echo "smoke.sh: FAIL: $*" >&2; exit 1; }

start_slabd smoke.sh "$BUILD/daemon/slabd" "$TMP/s.sock" "$TMP/slabd.log" -o zone_size=64M
export SLABD_SOCKET=$TMP/s.sock

out=$("$BUILD/bench/bulkbench-slabd" --test bulk --counts 8 --objects 64 --batches 3 --warmup 64) ||
	fail "bulkbench-slabd exited with $?"
grep -q '^# check: .*: ok$' <<<"$out" || fail "bulkbench-slabd's check did not report ok: $out"
grep -q '^bulkbench slabd bulk 8 ' <<<"$out" || fail "bulkbench-slabd printed no result"
echo "ok 1 bulkbench-slabd check_pool"

out=$(timeout 120 "$BUILD/bench/xproc-slabd" --objects 20000 --reps 3 --warmup 1000) || fail "xproc-slabd exited with $?"
grep -q '^xproc slabd handoff 64 [0-9.]*$' <<<"$out" || fail "xproc-slabd printed no result: $out"
# one line per repetition: "<prog> <alloc> handoff-rep <size> <cycles> <xcpu> <before> <after>",
# all above 0
reps_ok() { # OUTPUT PROG COUNT
	awk -v p="$2" -v want="$3" '$1 == p && $3 == "handoff-rep" && NF == 8 && $5 > 0 && $6 > 0 && $7 > 0 && $8 > 0 { n++ }
		END { exit n == want ? 0 : 1 }' <<<"$1"
}
reps_ok "$out" xproc 3 || fail "xproc-slabd: not 3 handoff-rep lines with a round trip: $out"
echo "ok 2 xproc-slabd: 63000 objects freed by another process, 3 round trips measured"


out=$("$BUILD/bench/kbench-slabd" --test memory --mem-objects 20000 --mem-delay-ms 0 \
	--mem-cmd "'$BUILD/tools/slabctl' --socket '$TMP/s.sock' stats --json >'$TMP/'\$KBENCH_PHASE.json") ||
	fail "kbench-slabd --test memory exited with $?"
peak=$(grep '^kmem slabd peak ' <<<"$out") || fail "no peak line: $out"
read -r live zones < <(awk '{ for (i = 4; i < NF; i += 2) v[$i] = $(i + 1); print v["live"], v["zones"] }' <<<"$peak")
((live == 20000 * 64)) || fail "peak live $live, expected $((20000 * 64))"
if ((zones >= 0)); then
	((zones >= live)) || fail "zones hold $zones bytes at the peak, fewer than the $live live"
fi
python3 - "$TMP/peak.json" "$live" <<'PY' || fail "slabctl stats at the peak do not show the live bytes"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["in_use_bytes"] >= int(sys.argv[2]), (j["in_use_bytes"], sys.argv[2])
PY
echo "ok 3 kbench-slabd memory: $live live bytes, zones $zones, slabctl agrees"

if "$BUILD/bench/kbench-slabd" --fake-cpu 0 --test pair --size 64 --batches 1 --iters 1 --warmup 0 >/dev/null 2>&1; then
	grep -q '^# rseq registered by glibc: no' < <("$BUILD/bench/kbench-slabd" --test pair --size 64 --batches 1 --iters 1 --warmup 0) ||
		fail "kbench-slabd --fake-cpu ran on a thread with rseq"
fi
echo "ok 4 kbench-slabd --fake-cpu refuses real rseq"
if (($(nproc) >= 2)); then
	out=$(timeout 120 "$BUILD/bench/bulkbench-slabd" --test handoff --reps 2 --handoff-objects 20000 --warmup 64) ||
		fail "bulkbench-slabd --test handoff exited with $?"
	reps_ok "$out" bulkbench 2 || fail "bulkbench-slabd: not 2 handoff-rep lines: $out"
	out=$(timeout 120 "$BUILD/bench/kbench-slabd" --test handoff --reps 2 --objects 20000 --warmup 64) ||
		fail "kbench-slabd --test handoff exited with $?"
	reps_ok "$out" kbench 2 || fail "kbench-slabd: not 2 handoff-rep lines: $out"
fi
echo "ok 5 handoff repetitions carry their cross-CPU round trip"

# Each run's own directory, by its pid: other runs on the machine may add or remove
# directories meanwhile, so a count of the whole folder could not tell. The folder is the
# EAL's (eal_create_runtime_dir): $RUNTIME_DIRECTORY, else /var/run as root, else
# $XDG_RUNTIME_DIR or /tmp; then /dpdk.
if [[ -n ${RUNTIME_DIRECTORY:-} ]]; then
	eal_run=$RUNTIME_DIRECTORY/dpdk
elif ((EUID == 0)); then
	eal_run=/var/run/dpdk
else
	eal_run=${XDG_RUNTIME_DIR:-/tmp}/dpdk
fi
# no_eal_dir ok|any PREFIX PROGRAM ARGS...: run PROGRAM (ok: it must succeed); the
# directory named by PREFIX and its pid must not be left. The pid comes from a shell that
# writes its own and execs the program, so it is the program's, not timeout's.
no_eal_dir() {
	local expect=$1 prefix=$2 pid rc=0
	shift 2
	timeout 120 bash -c 'echo $$ >"$0"; exec "$@"' "$TMP/eal.pid" "$@" >"$TMP/eal.out" 2>&1 || rc=$?
	[[ $expect != ok ]] || ((rc == 0)) || fail "$* exited with $rc: $(cat "$TMP/eal.out")"
	pid=$(cat "$TMP/eal.pid")
	[[ ! -e $eal_run/$prefix-$pid ]] || fail "$* left $eal_run/$prefix-$pid behind"
}
if [[ -x $BUILD/bench/bulkbench-dpdk ]]; then
	bb="--test bulk --counts 8 --objects 64 --batches 3 --warmup 64"
	# shellcheck disable=SC2086
	{
		no_eal_dir ok bulkbench "$BUILD/bench/bulkbench-dpdk" $bb
		no_eal_dir ok bulkbench "$BUILD/bench/bulkbench-dpdk" --shconf $bb # files in it
		no_eal_dir any bulkbench "$BUILD/bench/bulkbench-dpdk" $bb -- --in-memory # init fails
		no_eal_dir ok pktbench "$BUILD/bench/pktbench-dpdk" --batches 1 --objects 1000 --warmup 10
		# without hugepages its secondary cannot attach and it fails; with them it runs
		no_eal_dir any xproc "$BUILD/bench/xproc-dpdk" --objects 2000 --reps 1 --warmup 100
	}
	echo "ok 6 DPDK runs, a failed EAL init among them, left no runtime directory in $eal_run"
else
	echo "ok 6 # SKIP no DPDK build (dpdk-dev not installed)"
fi
# handoff-cg (all.sh's callgrind part): slabd's needs valgrind and --fake-cpu and refuses
# otherwise; under valgrind (tool none: quick) it runs the fast paths as two CPUs, which
# shows in the free misses of bench-64 (every round of 256 frees overflows the second
# CPU's stack); DPDK's runs natively. A sanitizer build (SMOKE_SANITIZED=1, from meson)
# cannot run under valgrind: that part is left out there.
if "$BUILD/bench/bulkbench-slabd" --test handoff-cg --handoff-objects 256 >"$TMP/hcg.out" 2>&1; then
	fail "bulkbench-slabd --test handoff-cg ran without --fake-cpu: $(cat "$TMP/hcg.out")"
fi
if command -v valgrind >/dev/null && [[ ${SMOKE_SANITIZED:-0} == 0 ]]; then
	misses() {
		"$BUILD/tools/slabctl" --socket "$TMP/s.sock" stats --json | python3 -c '
import json, sys
print(sum(c["free_misses"] for c in json.load(sys.stdin)["caches"] if c["name"] == "bench-64"))'
	}
	m0=$(misses)
	out=$(timeout 300 valgrind --tool=none -q "$BUILD/bench/bulkbench-slabd" --fake-cpu 0 --test handoff-cg \
		--handoff-objects 2560) || fail "bulkbench-slabd --test handoff-cg under valgrind exited with $?: $out"
	grep -q '^bulkbench slabd handoff-cg 1 [0-9.]*$' <<<"$out" || fail "bulkbench-slabd handoff-cg printed no result: $out"
	m1=$(misses)
	((m1 - m0 >= 10)) || fail "handoff-cg of 10 rounds made $((m1 - m0)) free misses, expected at least 10"
fi
if [[ -x $BUILD/bench/bulkbench-dpdk ]]; then
	out=$(timeout 120 "$BUILD/bench/bulkbench-dpdk" --test handoff-cg --handoff-objects 2560) ||
		fail "bulkbench-dpdk --test handoff-cg exited with $?: $out"
	grep -q '^bulkbench dpdk handoff-cg 1 [0-9.]*$' <<<"$out" || fail "bulkbench-dpdk handoff-cg printed no result: $out"
fi
echo "ok 7 handoff-cg runs where it can and refuses where it cannot"
echo "1..7"
