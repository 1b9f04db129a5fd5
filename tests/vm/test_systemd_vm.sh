#!/usr/bin/env bash
# test_systemd_vm.sh BUILD_DIR - slabd's units under a real systemd: run by
#   run-in-vm.sh --systemd -C BUILD_DIR -- tests/vm/test_systemd_vm.sh BUILD_DIR
# (systemd as PID 1 over a writable overlay of the host's root). Installs the build with
# `meson install` (into the overlay only), then: slabd.socket listens and the service does
# not run; the first client starts it through the socket (activation) and it is active only
# after READY=1 (Type=notify) with its STATUS= line; a daemon stopped with SIGSTOP misses
# its watchdog pings and systemd restarts it; a client works again afterwards. With
# fd_store = yes the restarted daemons (watchdog, then SIGKILL) take the region back from
# systemd's file descriptor store while a client keeps running. TAP output.
set -uo pipefail
build=$(readlink -f "${1:?usage: test_systemd_vm.sh BUILD_DIR}")
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# Wait up to $1 seconds for a command to succeed.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
show() { systemctl show -p "$1" --value slabd.service; }

echo "TAP version 13"
if [[ $(ps -p 1 -o comm=) != systemd ]]; then
	echo "1..0 # SKIP PID 1 is not systemd (run it with run-in-vm.sh --systemd)"
	exit 0
fi
check "PID 1 is systemd" true

prefix=$(meson introspect --buildoptions "$build" | python3 -c \
	'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
if meson install -C "$build" --no-rebuild >/tmp/install.log 2>&1; then
	ok "meson install of the build into the guest's root (prefix $prefix)"
else
	not_ok "meson install"
	sed 's/^/# /' /tmp/install.log | tail -20
fi
conf=$(sed -n 's/^ExecStart=.*--config \([^ ]*\).*/\1/p' "$build/systemd/slabd.service")
# Small zones (the guest has 512 MiB per node), a fast watchdog; the region in systemd's
# file descriptor store, so that restarts keep it under a running client.
sed -i 's/^zone_size = .*/zone_size = 16M/' "$conf"
echo 'fd_store = yes' >>"$conf"
mkdir -p /etc/systemd/system/slabd.service.d
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' >/etc/systemd/system/slabd.service.d/vm.conf
for f in "$prefix"/lib/sysusers.d/slabd.conf /usr/lib/sysusers.d/slabd.conf; do
	[[ -f $f ]] && systemd-sysusers "$f" 2>&1 | sed 's/^/# /'
done
for f in "$prefix"/lib/tmpfiles.d/slabd.conf /usr/lib/tmpfiles.d/slabd.conf; do
	[[ -f $f ]] && systemd-tmpfiles --create "$f" 2>&1 | sed 's/^/# /'
done
has_user() { getent passwd slabd >/dev/null; }
check "systemd-sysusers created user slabd" has_user
systemctl daemon-reload

check "slabd.socket starts" systemctl start slabd.socket
check "the socket exists at /run/slabd/slabd.sock" test -S /run/slabd/slabd.sock
check "slabd.service does not run before a client connects" test "$(show ActiveState)" = inactive

slabctl=$prefix/bin/slabctl
# The first start pre-faults the zones: under TCG on a loaded host that can outlast
# slabctl's own reply timeout, so it asks again until served (within 4 minutes).
first_stats() { out=$(timeout 120 "$slabctl" stats 2>&1); }
if wait_for 240 first_stats; then
	ok "the first client (slabctl stats) is served: activation started slabd"
else
	not_ok "slabctl stats through the socket"
	echo "$out" | sed 's/^/# /'
	journalctl -u slabd.service --no-pager | tail -20 | sed 's/^/# /'
fi
is_active() { test "$(show ActiveState)" = active; }
check "slabd.service is active (Type=notify: after READY=1)" wait_for 60 is_active
check "its STATUS= line reached systemd ($(show StatusText))" bash -c "[[ '$(show StatusText)' == ready* ]]"
pid=$(show MainPID)
check "MainPID $pid is slabd running as user slabd" test "$(ps -o comm=,user= -p "$pid" | tr -s ' ')" = "slabd slabd"

# A client that runs through the restarts below: owner patterns in its objects, checked
# before every free, a large allocation (a request to the daemon) every 50 rounds.
cat >/tmp/vmclient.c <<'EOF_C'
#include <slabd/slabd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
enum { N = 512 };
static uint64_t *o[N];
int main(int argc, char **argv)
{
	unsigned long rounds = 0, large = 0;
	int i;
	if (argc < 2 || slabd_connect(NULL) < 0) {
		fprintf(stderr, "connect: %s\n", slabd_last_error());
		return 2;
	}
	for (i = 0; i < N; i++) {
		if (!(o[i] = kmalloc(64 + (i % 9) * 48, GFP_KERNEL)))
			return 3;
		o[i][0] = 0xc0de0000u + i;
	}
	while (access(argv[1], F_OK) != 0) {
		for (i = 0; i < N; i++) {
			if (o[i][0] != 0xc0de0000u + (uint64_t)i + rounds * N) {
				fprintf(stderr, "round %lu: object %d overwritten\n", rounds, i);
				return 4;
			}
			kfree(o[i]);
			if (!(o[i] = kmalloc(64 + (i % 9) * 48, GFP_KERNEL)))
				return 5;
			o[i][0] = 0xc0de0000u + (uint64_t)i + (rounds + 1) * N;
		}
		rounds++;
		if (rounds % 50 == 0) {
			void *p = kmalloc(100000, GFP_KERNEL);
			if (!p) {
				fprintf(stderr, "large allocation failed: %s\n", slabd_last_error());
				return 6;
			}
			kfree(p);
			large++;
		}
		usleep(10000);
	}
	printf("%lu rounds, %lu large allocations\n", rounds, large);
	return 0;
}
EOF_C
client_ok=0
if cc -o /tmp/vmclient /tmp/vmclient.c -I"$build/../include" -I"$(dirname "$0")/../../include" -L"$build/lib" \
	-lslabclient -Wl,-rpath,"$build/lib" 2>/tmp/cc.log; then
	SLABD_SOCKET=/run/slabd/slabd.sock /tmp/vmclient /tmp/vmclient.stop >/tmp/vmclient.out 2>&1 &
	client=$!
	client_ok=1
	ok "a client runs (pid $client)"
else
	not_ok "the client did not build"
	sed 's/^/# /' /tmp/cc.log | tail -5
fi

# The watchdog: a stopped daemon sends no WATCHDOG=1; systemd kills it and restarts it.
restarts=$(show NRestarts)
kill -STOP "$pid"
restarted() { [[ $(show NRestarts) -gt $restarts && $(show ActiveState) == active && $(show MainPID) != "$pid" ]]; }
if wait_for 120 restarted; then
	ok "a daemon stopped with SIGSTOP was restarted by the watchdog (NRestarts $(show NRestarts))"
else
	not_ok "no watchdog restart within 120 s (state $(show ActiveState), NRestarts $(show NRestarts))"
fi
watchdog_line=$(journalctl -u slabd.service --no-pager | grep -m1 'Watchdog timeout')
check "systemd's journal says it was the watchdog: ${watchdog_line#*: }" test -n "$watchdog_line"
served() { timeout 120 "$slabctl" stats >/dev/null; }
check "a client is served by the restarted daemon" served
adopted() { journalctl -u slabd.service --no-pager | grep -q 'passed back by the service manager'; }
check "the restarted daemon took the region back from the fd store" adopted
# A crash: SIGKILL, Restart=on-failure, the region again from the fd store.
pid=$(show MainPID)
restarts=$(show NRestarts)
kill -KILL "$pid"
if wait_for 120 restarted; then
	ok "a daemon killed with SIGKILL was restarted (NRestarts $(show NRestarts))"
else
	not_ok "no restart after SIGKILL within 120 s (state $(show ActiveState))"
fi
check "a client is served after the SIGKILL restart" served
if ((client_ok)); then
	sleep 2
	touch /tmp/vmclient.stop
	if wait "$client"; then
		ok "the client ran through both restarts, every pattern intact ($(cat /tmp/vmclient.out))"
	else
		not_ok "the client failed: $(tr '\n' ' ' </tmp/vmclient.out)"
	fi
fi
check "systemctl stop stops it cleanly" systemctl stop slabd.service slabd.socket
check "its result is success" test "$(show Result)" = success
echo "1..$n"
exit $failed
