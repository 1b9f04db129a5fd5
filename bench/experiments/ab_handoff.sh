#!/usr/bin/env bash
# bench/experiments/ab_handoff.sh - paired A/B of the handoff between builds of slabd.
#
#   bench/experiments/ab_handoff.sh [--rounds N] [--test handoff|xproc] NAME=BUILDDIR[:VAR=VAL,...] ...
#
# Starts one daemon per build (BUILDDIR/daemon/slabd), then runs N rounds, the VAR=VAL
# settings in the environment of the build's daemon and of its clients (a library knob
# is read by the client); each round runs every build's client once (bulkbench
# --test handoff, or xproc-slabd), in a rotating order, and DPDK's cross-thread handoff
# (the first build's bulkbench-dpdk) once. The machine's cross-CPU round trip is bimodal
# (bench/report.py, XCPU_NEAR), so each repetition is put in its regime, and each
# build's result is "paired": the median over rounds of (its near-regime median / the
# first build's) in the same round, with the interquartile range; likewise for far, and
# against DPDK. This is how bench/RESULTS.md's session 5-8 A/B numbers were made.
set -euo pipefail

ROUNDS=20
TEST=handoff
ARGS=(--reps 3 --handoff-objects 300000)
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--test) TEST=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
[[ $# -ge 1 ]] || { echo "ab_handoff.sh: give at least one NAME=BUILDDIR" >&2; exit 2; }

TMP=$(mktemp -d /tmp/ab-handoff.XXXXXX)
NAMES=() DIRS=() ENVS=() PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

for spec in "$@"; do
	name=${spec%%=*} rest=${spec#*=}
	dir=${rest%%:*} envs=""
	[[ $rest == *:* ]] && envs=${rest#*:}
	[[ -x $dir/daemon/slabd ]] || { echo "ab_handoff.sh: no $dir/daemon/slabd" >&2; exit 2; }
	sock=$TMP/$name.sock
	# shellcheck disable=SC2086
	env ${envs//,/ } "$dir/daemon/slabd" --foreground --socket "$sock" -o zone_size=256M \
		-o region_dir="$TMP/$name.region" 2>"$TMP/$name.log" &
	PIDS+=($!)
	for _ in $(seq 300); do [[ -S $sock ]] && break; sleep 0.1; done
	[[ -S $sock ]] || { echo "ab_handoff.sh: $name's daemon did not start:" >&2; cat "$TMP/$name.log" >&2; exit 1; }
	NAMES+=("$name") DIRS+=("$dir") ENVS+=("${envs//,/ }")
done
DPDK=${DIRS[0]}/bench/bulkbench-dpdk

: >"$TMP/reps"
for ((r = 0; r < ROUNDS; r++)); do
	n=${#NAMES[@]}
	for ((i = 0; i < n; i++)); do
		k=$(((i + r) % n))
		name=${NAMES[$k]} dir=${DIRS[$k]}
		# shellcheck disable=SC2086
		if [[ $TEST == xproc ]]; then
			env ${ENVS[$k]} SLABD_SOCKET=$TMP/$name.sock "$dir/bench/xproc-slabd" | grep 'handoff-rep' |
				sed "s/^/$r $name /" >>"$TMP/reps"
		else
			env ${ENVS[$k]} "$dir/bench/bulkbench-slabd" --socket "$TMP/$name.sock" --test handoff "${ARGS[@]}" |
				grep 'handoff-rep' | sed "s/^/$r $name /" >>"$TMP/reps"
		fi
	done
	if [[ -x $DPDK ]]; then
		"$DPDK" --test handoff "${ARGS[@]}" 2>/dev/null | grep 'handoff-rep' | sed "s/^/$r dpdk /" >>"$TMP/reps" || true
	fi
done

python3 - "$TMP/reps" "${NAMES[@]}" <<'EOF'
import sys, statistics as st
path, names = sys.argv[1], sys.argv[2:]
XCPU_NEAR = 400
data = {}  # (round, name, regime) -> [values]
for line in open(path):
    f = line.split()
    # round name <prog> <alloc> handoff-rep size v xcpu before after
    r, name, v, before, after = int(f[0]), f[1], float(f[6]), float(f[8]), float(f[9])
    reg = "near" if before < XCPU_NEAR and after < XCPU_NEAR else "far" if before >= XCPU_NEAR and after >= XCPU_NEAR else "mixed"
    data.setdefault((r, name, reg), []).append(v)
rounds = sorted({k[0] for k in data})
def q(xs):
    xs = sorted(xs)
    if not xs: return "-"
    if len(xs) < 4: return "%.2f (n=%d)" % (st.median(xs), len(xs))
    qs = st.quantiles(xs, n=4)
    return "%.2f (%.2f-%.2f, n=%d)" % (st.median(xs), qs[0], qs[2], len(xs))
for reg in ("near", "far"):
    print("## %s regime" % reg)
    print("| build | median cycles/object (reps) | paired / %s | paired / dpdk |" % names[0])
    print("|---|---|---|---|")
    for name in names + ["dpdk"]:
        allv = [v for (r, n, g), vs in data.items() if n == name and g == reg for v in vs]
        p0, pd = [], []
        for r in rounds:
            mine = data.get((r, name, reg))
            if not mine: continue
            ref = data.get((r, names[0], reg)); dp = data.get((r, "dpdk", reg))
            if ref: p0.append(st.median(mine) / st.median(ref))
            if dp: pd.append(st.median(mine) / st.median(dp))
        med = "%.1f (%d)" % (st.median(allv), len(allv)) if allv else "-"
        print("| %s | %s | %s | %s |" % (name, med, q(p0), q(pd)))
    print()
EOF
echo "raw: $TMP/reps"
