#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR: `meson install` into a DESTDIR, check what was
# installed, build a client with pkg-config against the installed files only, and run it
# against the installed daemon. Writes TAP.
set -uo pipefail
build=$1
src=$2
meson=${MESON:-meson}
tmp=$(mktemp -d /tmp/slabd-install-XXXXXX)
root=$tmp/root
daemon_pid=
cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/# /' "$tmp/out"; fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

echo "1..21"
if ! "$meson" install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
	notok "meson install into a DESTDIR"
	sed 's/^/# /' "$tmp/install.log"
	exit 0
fi
ok "meson install into a DESTDIR"

# Where meson put things (prefix and directories are the build's options).
pc=$(find "$root" -name libslabclient.pc | head -1)
lib=$(find "$root" -name 'libslabclient.so.*.*' | head -1)
sbin=$(find "$root" -path '*/sbin/slabd' | head -1)
bin=$(find "$root" -path '*/bin/slabctl' | head -1)
unitdir=$(dirname "$(find "$root" -name slabd.service | head -1)")

check "daemon, slabctl, library and pkg-config file installed" test -x "$sbin" -a -x "$bin" -a -f "$lib" -a -f "$pc"
check "libslabclient.so has the SONAME libslabclient.so.0 and the dev symlink" \
	bash -c "readelf -d '$lib' | grep -q 'Library soname: \[libslabclient.so.0\]' && test -L '$(dirname "$lib")/libslabclient.so.0' && test -L '$(dirname "$lib")/libslabclient.so'"
check "only versioned slabd_ symbols are exported" \
	bash -c "syms=\$(nm -D --defined-only '$lib' | awk '\$2 ~ /[TDBVW]/ {print \$3}' | grep -v '^SLABD_'); test -n \"\$syms\" && ! grep -Ev '^slabd_.*@@SLABD_0\.[0-9]+\$' <<<\"\$syms\""
check "public headers installed" bash -c "for h in slabd.h kmalloc.h gfp.h; do test -f \$(dirname '$pc')/../../../include/slabd/\$h || test -n \"\$(find '$root' -path \"*/include/slabd/\$h\")\" || exit 1; done"
check "systemd units, sysusers.d and tmpfiles.d entries installed" \
	bash -c "test -f '$unitdir/slabd.service' -a -f '$unitdir/slabd.socket' && find '$root' -path '*/sysusers.d/slabd.conf' | grep -q . && find '$root' -path '*/tmpfiles.d/slabd.conf' | grep -q ."
check "default config installed as slabd/slabd.conf" bash -c "find '$root' -path '*/slabd/slabd.conf' -not -path '*.d/*' | grep -q ."
check "man pages slabd.8 slabctl.8 slabd.conf.5 libslabclient.3 installed" \
	bash -c "for m in man8/slabd.8 man8/slabctl.8 man5/slabd.conf.5 man3/libslabclient.3; do find '$root' -path \"*/\$m\" | grep -q . || exit 1; done"
if command -v groff >/dev/null; then
	check "man pages render without groff warnings" \
		bash -c "for m in \$(find '$root' -path '*/man/man*' -type f); do out=\$(groff -man -ww -z -Tutf8 \"\$m\" 2>&1); [[ -z \$out ]] || { echo \"\$m: \$out\"; exit 1; }; done"
else
	skip "man pages render without groff warnings" "groff not installed"
fi
check "the unit runs the installed daemon with the installed config" \
	bash -c "grep -q '^ExecStart=${sbin#"$root"} --foreground --config .*/slabd/slabd.conf\$' '$unitdir/slabd.service'"
if command -v systemd-analyze >/dev/null; then
	# The unit names the installed path, which exists only under the DESTDIR here.
	mkdir -p "$tmp/units"
	sed "s#${sbin#"$root"} #$sbin #g" "$unitdir/slabd.service" >"$tmp/units/slabd.service"
	cp "$unitdir/slabd.socket" "$tmp/units/"
	check "systemd-analyze verify accepts slabd.service and slabd.socket without a warning" \
		bash -c "out=\$(systemd-analyze verify --man=no '$tmp/units/slabd.service' '$tmp/units/slabd.socket' 2>&1); rc=\$?; echo \"\$out\"; [[ \$rc == 0 && -z \$out ]]"
else
	skip "systemd-analyze verify accepts the units" "systemd-analyze not installed (apt-get install systemd)"
fi

# Every key slabd knows (it lists them when it meets an unknown one) is documented.
keys=$("$sbin" --set no_such_key=1 2>&1 | sed -n 's/.*expected a known key: //p' | tr -d ',')
conf=$(find "$root" -path '*/slabd/slabd.conf' -not -path '*.d/*' | head -1)
man5=$(find "$root" -path '*/man5/slabd.conf.5' | head -1)
# A key "name.N" (one per node) is documented as ".BI name. N" and shown as "name.1 = ...".
check "every config key ($(wc -w <<<"$keys")) is described in slabd.conf(5)" \
	bash -c "[[ -n '$keys' ]] && for k in $keys; do
		if [[ \$k == *.N ]]; then grep -q \"^\\.BI \${k%.N}\\. N \" '$man5'; else grep -q \"^\\.BR \$k \" '$man5'; fi ||
			{ echo \"\$k missing\"; exit 1; }; done"
check "every config key is in the commented default config" \
	bash -c "for k in $keys; do
		if [[ \$k == *.N ]]; then re=\"^# ?\${k%.N}\\.[0-9]+ = \"; else re=\"^#?\$k = \"; fi
		grep -Eq \"\$re\" '$conf' || { echo \"\$k missing\"; exit 1; }; done"
incdir=$(dirname "$(find "$root" -path '*/include/slabd/slabd.h' | head -1)")/..
check "each installed header compiles on its own as C" \
	bash -c "for h in '$incdir'/slabd/*.h; do echo \"#include <slabd/\$(basename \$h)>\" | ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -I'$incdir' -x c -fsyntax-only - || exit 1; done"
if command -v c++ >/dev/null; then
	check "each installed header compiles on its own as C++" \
		bash -c "for h in '$incdir'/slabd/*.h; do echo \"#include <slabd/\$(basename \$h)>\" | c++ -Wall -Wextra -Werror -I'$incdir' -x c++ -fsyntax-only - || exit 1; done"
else
	skip "each installed header compiles on its own as C++" "no C++ compiler"
fi

export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$root
flags=$(pkg-config --cflags --libs libslabclient 2>"$tmp/pc.err")
if [[ $? == 0 && $flags == *-lslabclient* ]]; then ok "pkg-config --cflags --libs libslabclient: $flags"; else notok "pkg-config libslabclient"; sed 's/^/# /' "$tmp/pc.err"; fi
# A sanitizer build installs an instrumented library: its clients need the same runtime.
san=
if readelf -d "$lib" | grep -q 'NEEDED.*libasan'; then san="-fsanitize=address,undefined"; fi
# shellcheck disable=SC2086
check "an example client builds against the installed files only" \
	${CC:-cc} -std=gnu11 -Wall -Wextra -Werror $san -o "$tmp/example" "$src/tests/integration/install_example.c" $flags
check "the example is linked to libslabclient.so.0" bash -c "readelf -d '$tmp/example' | grep -q 'NEEDED.*libslabclient.so.0'"

sock=$tmp/slabd.sock
"$sbin" --foreground --socket "$sock" --set zone_size=64M --set hugepages=off >"$tmp/slabd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 500); do
	"$bin" --socket "$sock" stats >/dev/null 2>&1 && break
	sleep 0.02
done
check "the installed slabd starts and the installed slabctl reaches it" "$bin" --socket "$sock" stats
export LD_LIBRARY_PATH=$(dirname "$lib")
out=$(SLABD_SOCKET=$sock "$tmp/example" 2>&1)
rc=$?
if [[ $rc == 0 && $out == "hello from slabd, offset "* ]]; then ok "the example allocates from the installed daemon: $out"; else
	notok "the example allocates from the installed daemon (exit $rc)"; echo "# $out"; sed 's/^/# /' "$tmp/slabd.log"; fi
kill "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
if [[ $rc == 0 ]]; then ok "the installed daemon stops cleanly"; else notok "the installed daemon stops cleanly (exit $rc)"; sed 's/^/# /' "$tmp/slabd.log"; fi
exit 0
