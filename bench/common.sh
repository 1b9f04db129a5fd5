# bench/common.sh - sourced by run.sh and bulk.sh: start a private slabd and wait for it.
#
# start_slabd PROG SLABD SOCK LOG [ARGS...]: run SLABD in the foreground on SOCK (256 MiB
# zone, then ARGS, e.g. -o retain_free=0), logging to LOG; sets DPID and BACKING (the
# daemon's "backing: ..." line); exits with the daemon's log when it dies or does not
# listen within 60 s. PROG prefixes messages.
start_slabd() {
	local prog=$1 slabd=$2 sock=$3 log=$4
	shift 4
	"$slabd" --foreground --socket "$sock" -o zone_size=256M "$@" 2>"$log" &
	DPID=$!
	for _ in $(seq 600); do
		[[ -S $sock ]] && break
		if ! kill -0 "$DPID" 2>/dev/null; then
			echo "$prog: slabd exited before it was ready; its log:" >&2
			cat "$log" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [[ ! -S $sock ]]; then
		echo "$prog: slabd did not create $sock within 60 s; its log:" >&2
		cat "$log" >&2
		exit 1
	fi
	BACKING=$(grep -m1 -o 'backing: .*' "$log" || echo "backing: unknown (no 'backing:' line in the log)")
}

# stop_slabd PROG: SIGTERM the daemon started by start_slabd (SIGKILL after 10 s).
stop_slabd() {
	local prog=$1 _
	if [[ -n ${DPID:-} ]] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$DPID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$DPID" 2>/dev/null; then
			echo "$prog: slabd (pid $DPID) ignored SIGTERM for 10 s; killing it" >&2
			kill -KILL "$DPID" 2>/dev/null || true
		fi
		wait "$DPID" 2>/dev/null || true
	fi
}
