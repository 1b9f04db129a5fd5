#!/usr/bin/env bash
# Install what slabd needs to build, test and benchmark (Debian 12); --bench adds the
# benchmark peers, --vm what the vm suite needs. Idempotent: only installs packages that
# are missing. Needs root (or sudo) when something is missing.
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
# Peers for bench/ (LD_PRELOAD; DPDK for bulkbench, pktbench and xproc), and valgrind for
# instruction counts; gnuplot draws bench/all.sh's plot.
bench_pkgs=(libjemalloc2 libgoogle-perftools4 libtcmalloc-minimal4 libmimalloc2.0 valgrind gnuplot-nox dpdk-dev libdpdk-dev)

# For the vm suite (tests/vm/run-in-vm.sh): qemu, and a static busybox for the initramfs.
# The guest's kernel is fetched by the script itself (apt-get download, not installed).
vm_pkgs=(qemu-system-x86 busybox-static)

want=("${build_pkgs[@]}")
for arg in "$@"; do
	case $arg in
	--bench) want+=("${bench_pkgs[@]}") ;;
	--vm) want+=("${vm_pkgs[@]}") ;;
	esac
done

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
