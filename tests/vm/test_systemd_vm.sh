#!/usr/bin/env bash
# test_systemd_vm.sh BUILD_DIR - slabd's units under a real systemd: run by
#   run-in-vm.sh --systemd -C BUILD_DIR -- tests/vm/test_systemd_vm.sh BUILD_DIR
# (systemd as PID 1 over a writable overlay of the host's root). Installs the build with
# `meson install` (into the overlay only), then: slabd.socket listens and the service does
# not run; the first client starts it through the socket (activation) and it is active only
# after READY=1 (Type=notify) with its STATUS= line; a daemon stopped with SIGSTOP misses
# its watchdog pings and systemd restarts it; a client works again afterwards. TAP output.
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
# Small zones (the guest has 512 MiB per node), a fast watchdog.
sed -i 's/^zone_size = .*/zone_size = 16M/' "$conf"
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
if out=$(timeout 120 "$slabctl" stats 2>&1); then
	ok "the first client (slabctl stats) is served: activation started slabd"
else
	not_ok "slabctl stats through the socket"
	echo "$out" | sed 's/^/# /'
	journalctl -u slabd.service --no-pager | tail -20 | sed 's/^/# /'
fi
check "slabd.service is active (Type=notify: after READY=1)" test "$(show ActiveState)" = active
check "its STATUS= line reached systemd ($(show StatusText))" bash -c "[[ '$(show StatusText)' == ready* ]]"
pid=$(show MainPID)
check "MainPID $pid is slabd running as user slabd" test "$(ps -o comm=,user= -p "$pid" | tr -s ' ')" = "slabd slabd"

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
check "systemctl stop stops it cleanly" systemctl stop slabd.service slabd.socket
check "its result is success" test "$(show Result)" = success
echo "1..$n"
exit $failed
