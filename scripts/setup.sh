#!/usr/bin/env bash
# Install what slabd needs to build, test and benchmark (Debian 12). Idempotent: only
# installs packages that are missing. Needs root (or sudo) when something is missing.
set -euo pipefail

build_pkgs=(gcc meson ninja-build pkg-config liburcu-dev libnuma-dev libhwloc-dev libcriterion-dev)
# For the install test: systemd-analyze verify of the units (the package installs fine in
# a container whose init is not systemd; nothing is started), groff to lint the man pages,
# binutils' readelf/nm for the SONAME and exported symbols, python3 to parse slabctl's JSON.
build_pkgs+=(systemd groff-base binutils python3)
# clang: the libFuzzer targets in tests/fuzz (built only when clang links -fsanitize=fuzzer).
build_pkgs+=(clang)
# valgrind: the daemon under memcheck for part of the integration suite (suite valgrind).
build_pkgs+=(valgrind)
# Peers for bench/ (LD_PRELOAD), and valgrind for instruction counts.
bench_pkgs=(libjemalloc2 libgoogle-perftools4 libtcmalloc-minimal4 libmimalloc2.0 valgrind)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--bench" ]]; then
	want+=("${bench_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	SUDO="sudo"
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
