#!/usr/bin/env bash
# run-in-vm.sh - run one command inside a small virtual machine that has what this host
# lacks: two real NUMA nodes (one CPU each), an Intel IOMMU, and two e1000e NICs (joined by a qemu hub) bound to
# vfio-pci. The guest sees the host's root filesystem read-only over 9p (tmpfs on /tmp and
# /run), so the command runs against this project's build tree and the host's libraries
# unchanged. The command's output comes back on stdout, its exit status is ours; the guest
# is always stopped (a time limit, and a trap that kills qemu when we are killed).
#
#   tests/vm/run-in-vm.sh [options] [--] COMMAND [ARG...]
#
#   -C DIR             run COMMAND in DIR (default: the current directory)
#   --hugepages N      reserve N 2 MiB hugepages on each node before COMMAND runs
#   --writable         an overlay (tmpfs over the read-only host root) makes / writable;
#                      writes vanish with the guest (for `meson test -C build` inside)
#   --systemd          boot the host's systemd as PID 1 (over the --writable overlay);
#                      COMMAND runs from a oneshot unit once multi-user.target is up
#   --env NAME=VALUE   set a variable for COMMAND (repeatable)
#   --timeout SEC      stop the guest after SEC seconds (default 300): exit status 124
#   --mem MIB          guest memory per node (default 512)
#   --accel auto|tcg|kvm
#                      auto (default): KVM only if a quick probe boots, else TCG
#   --probe            boot, check the guest's NUMA nodes, IOMMU group and vfio, stop;
#                      exit 0 if the VM works here (what .ci/run asks before the suite)
#   --prepare          only fetch the kernel and build the initramfs
#   --verbose          copy the guest's console to stderr as it boots
#
# Exit status: COMMAND's, or 124 (time limit), 125 (the guest never reported a status:
# it did not boot or crashed; its console log is shown), 126 (usage or host set-up).
#
# Environment: SLABD_VM_CACHE (default /var/cache/slabd-vm, else $TMPDIR/slabd-vm-cache)
# holds the kernel and initramfs, rebuilt when missing or when this script changed.
# In the guest COMMAND sees SLABD_VM=1, SLABD_VM_NODES, SLABD_VM_VFIO_GROUP (the NIC's
# IOMMU group number), SLABD_VM_NIC (its PCI address) and SLABD_VM_NIC_ID (vendor device).
set -uo pipefail

die() {
	echo "run-in-vm: $*" >&2
	exit 126
}

self=$(readlink -f "${BASH_SOURCE[0]}")
workdir=$PWD
hugepages=0
writable=0
timeout_s=300
mem_mib=512
accel=${SLABD_VM_ACCEL:-auto}
mode=run
verbose=0
init=busybox
envs=()
while (($#)); do
	case $1 in
	-C) workdir=$(readlink -f "$2") || die "no directory $2"; shift 2 ;;
	--hugepages) hugepages=$2; shift 2 ;;
	--writable) writable=1; shift ;;
	--systemd) init=systemd; writable=1; shift ;;
	--env) envs+=("$2"); shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--mem) mem_mib=$2; shift 2 ;;
	--accel) accel=$2; shift 2 ;;
	--probe) mode=probe; shift ;;
	--prepare) mode=prepare; shift ;;
	--verbose) verbose=1; shift ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see the comment at the top of $self)" ;;
	*) break ;;
	esac
done
[[ $hugepages =~ ^[0-9]+$ && $timeout_s =~ ^[0-9]+$ && $mem_mib =~ ^[0-9]+$ ]] ||
	die "--hugepages, --timeout and --mem take numbers"
case $accel in auto | tcg | kvm) ;; *) die "--accel is auto, tcg or kvm, not $accel" ;; esac
if [[ $mode == run && $# -eq 0 ]]; then
	die "no command given (usage: run-in-vm.sh [options] -- COMMAND [ARG...])"
fi
[[ -d $workdir ]] || die "no directory $workdir"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: apt-get install qemu-system-x86"
busybox=$(command -v busybox) || die "busybox not found: apt-get install busybox-static"
ldd "$busybox" >/dev/null 2>&1 &&
	die "$busybox is dynamically linked; the initramfs needs busybox-static"

# --- the kernel and the initramfs, cached ---------------------------------------------------
cache=${SLABD_VM_CACHE:-/var/cache/slabd-vm}
if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w $cache ]]; then
	cache=${TMPDIR:-/tmp}/slabd-vm-cache
	mkdir -p "$cache" || die "cannot create a cache directory"
fi

# Modules the guest loads (modprobe resolves the order from modules.dep): 9p over virtio
# for the host's root, overlay for --writable, vfio-pci and the type1 IOMMU backend.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p overlay
	irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio-pci-core vfio-pci)

# The guest's first program: mount what the command needs, bind the NIC, run it, power off.
# Parameters come on the kernel command line (slabd_vm.*).
guest_init() {
	cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for a in $(cat /proc/cmdline); do
	case $a in slabd_vm.*=*) k=${a#slabd_vm.}; eval "vm_${k%%=*}=\${a#*=}" ;; esac
done
say() { echo "slabd-vm: $*"; }
fail() { say "FAILED: $*"; echo "$vm_nonce exit=125" >/dev/ttyS1; poweroff -f; }
out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null

for m in $(cat /modules); do modprobe $m || fail "modprobe $m"; done
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || fail "mount 9p"
root=/host
if [ "$vm_writable" = 1 ]; then
	mkdir -p /ovl /root
	mount -t tmpfs -o mode=0755 tmpfs /ovl && mkdir -p /ovl/upper /ovl/work
	mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay /root ||
		fail "overlay over the host root"
	root=/root
fi
# Keep a view of the host's /tmp and /run: a build tree there is bound back in below.
mkdir -p /hosttmp /hostrun
mount -o bind $root/tmp /hosttmp
mount -o bind $root/run /hostrun
mount -t proc proc $root/proc
mount -t sysfs sysfs $root/sys
mount -t devtmpfs devtmpfs $root/dev
mkdir -p /dev/shm /dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs $root/dev/shm
mount -t devpts devpts $root/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $root/tmp
mount -t tmpfs -o mode=0755 tmpfs $root/run
mount -t hugetlbfs hugetlbfs $root/dev/hugepages 2>/dev/null
if [ -n "$vm_expose" ]; then
	case $vm_expose in /tmp/*) from=/hosttmp${vm_expose#/tmp} ;; /run/*) from=/hostrun${vm_expose#/run} ;; esac
	mkdir -p $root$vm_expose && mount -o bind $from $root$vm_expose || fail "cannot show $vm_expose"
fi

# The NICs (two e1000e on one qemu hub): no e1000e driver is loaded, so vfio-pci claims
# them by id. The first is the one the single-NIC tests use.
nic=
nic2=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat $d/vendor) $(cat $d/device)" = "0x8086 0x10d3" ]; then
		if [ -z "$nic" ]; then nic=${d##*/}; else nic2=${d##*/}; fi
	fi
done
[ -n "$nic" ] && [ -n "$nic2" ] || fail "not two e1000e NICs on the PCI bus"
echo 8086 10d3 >/sys/bus/pci/drivers/vfio-pci/new_id
for n in $nic $nic2; do
	drv=$(readlink /sys/bus/pci/devices/$n/driver); drv=${drv##*/}
	[ "$drv" = vfio-pci ] || fail "NIC $n is bound to '$drv', not vfio-pci"
done
group=$(readlink /sys/bus/pci/devices/$nic/iommu_group); group=${group##*/}
group2=$(readlink /sys/bus/pci/devices/$nic2/iommu_group); group2=${group2##*/}
[ -n "$group" ] && [ -c /dev/vfio/$group ] && [ -c /dev/vfio/vfio ] && [ -c /dev/vfio/$group2 ] ||
	fail "no /dev/vfio/vfio or /dev/vfio/$group or /dev/vfio/$group2 (is the IOMMU on?)"

nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
if [ "${vm_hugepages:-0}" -gt 0 ]; then
	for n in /sys/devices/system/node/node[0-9]*; do
		echo $vm_hugepages >$n/hugepages/hugepages-2048kB/nr_hugepages
		got=$(cat $n/hugepages/hugepages-2048kB/nr_hugepages)
		[ "$got" = "$vm_hugepages" ] || fail "${n##*/}: $got of $vm_hugepages hugepages reserved"
	done
fi
say "nodes=$nodes nic=$nic group=$group nic2=$nic2 group2=$group2 driver=$drv hugepages/node=${vm_hugepages:-0} writable=${vm_writable:-0}"

mkdir -p $root/run/slabd-vm
cp /host$vm_job/job.sh $root/run/slabd-vm/job.sh || fail "no job script at $vm_job"
{
	echo "export SLABD_VM=1 SLABD_VM_NODES=$nodes SLABD_VM_VFIO_GROUP=$group SLABD_VM_NIC=$nic SLABD_VM_NIC_ID='8086 10d3'"
	echo "export SLABD_VM_VFIO_GROUP2=$group2 SLABD_VM_NIC2=$nic2"
} >$root/run/slabd-vm/env.sh
if [ "$vm_init" = systemd ]; then
	# systemd as PID 1 over the writable overlay: a oneshot unit runs the job once the
	# system is up, writes the status line and powers off.
	cat >$root/run/slabd-vm/runner.sh <<RUNNER
#!/bin/bash
(. /run/slabd-vm/env.sh; . /run/slabd-vm/job.sh) >/dev/ttyS1 2>&1 </dev/null
status=\$?
(echo "$vm_nonce exit=\$status" >/dev/ttyS1)
systemctl poweroff --no-block
RUNNER
	chmod 755 $root/run/slabd-vm/runner.sh
	cat >$root/etc/systemd/system/slabd-vm-job.service <<UNIT
[Unit]
Description=run-in-vm.sh job
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/run/slabd-vm/runner.sh
UNIT
	mkdir -p $root/etc/systemd/system/multi-user.target.wants
	ln -sf ../slabd-vm-job.service $root/etc/systemd/system/multi-user.target.wants/slabd-vm-job.service
	umount $root/dev/pts $root/dev/shm $root/dev $root/proc $root/sys 2>/dev/null
	exec switch_root $root /lib/systemd/systemd
	fail "switch_root to systemd"
fi
if [ "$vm_mode" = probe ]; then
	status=0
	[ "$nodes" = 2 ] || { say "FAILED: $nodes NUMA nodes, not 2"; status=1; }
else
	chroot $root /bin/bash -c '. /run/slabd-vm/env.sh; . /run/slabd-vm/job.sh' >$out 2>&1 </dev/null
	status=$?
fi
(echo "$vm_nonce exit=$status" >$out)
sync
poweroff -f
INIT
}

# The initramfs depends on the init above, the module list and busybox; the kernel on the
# package. Both are rebuilt when missing or when what they depend on changed. The
# initramfs is named by that stamp, so runs of different versions of this script (several
# worktrees sharing the cache) never boot each other's init.
stamp=$({ guest_init; echo "${modules[*]}"; sha256sum <"$busybox"; } | sha256sum | cut -c1-16)
prepare() {
	local kver pkg deb tmp ird m f
	if [[ -s $cache/vmlinuz && -s $cache/initramfs-$stamp.cpio.gz && -s $cache/kernel-version ]]; then
		return 0
	fi
	# other versions' initramfs files built over a day ago go (a run that still wants one rebuilds it)
	find "$cache" -maxdepth 1 -name 'initramfs*.cpio.gz' -mtime +0 -delete 2>/dev/null
	tmp=$(mktemp -d "$cache/prepare.XXXXXX") || die "cannot write in $cache"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" RETURN
	# The kernel Debian's linux-image-amd64 points at, else the newest 6.1 in the archive;
	# the .deb stays in the cache.
	deb=$(ls "$cache"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1)
	if [[ -z $deb ]]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -1)
		if [[ -z $pkg ]]; then
			pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
				grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -1)
		fi
		[[ -n $pkg ]] || die "no linux-image-6.1.0-*-amd64 in apt's lists (apt-get update?)"
		echo "run-in-vm: fetching $pkg (apt-get download, unpacked with dpkg -x, not installed)" >&2
		(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.err") ||
			{ cat "$tmp/apt.err" >&2; die "apt-get download $pkg failed"; }
		deb=$(ls "$tmp"/*.deb) || die "no .deb downloaded"
		mv "$deb" "$cache/" && deb=$cache/${deb##*/}
	fi
	dpkg -x "$deb" "$tmp/k" || die "dpkg -x $deb failed"
	kver=$(ls "$tmp/k/lib/modules" | head -1)
	[[ -n $kver && -f $tmp/k/boot/vmlinuz-$kver ]] || die "$deb has no kernel image"

	ird=$tmp/initramfs
	mkdir -p "$ird"/{bin,dev,proc,sys,tmp,lib/modules/"$kver"}
	cp "$busybox" "$ird/bin/busybox"
	for m in "${modules[@]}"; do
		f=$(cd "$tmp/k/lib/modules/$kver" && find kernel -name "$m.ko" -o -name "$m.ko.xz" | head -1)
		[[ -n $f ]] || die "module $m not in $deb"
		mkdir -p "$ird/lib/modules/$kver/$(dirname "$f")"
		cp "$tmp/k/lib/modules/$kver/$f" "$ird/lib/modules/$kver/$f"
	done
	"$busybox" depmod -b "$ird" "$kver" || die "depmod failed"
	echo "virtio_pci 9pnet_virtio 9p overlay vfio_iommu_type1 vfio-pci" >"$ird/modules"
	guest_init >"$ird/init"
	chmod 755 "$ird/init"
	(cd "$ird" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initramfs.cpio.gz" ||
		die "cpio failed"
	mv "$tmp/k/boot/vmlinuz-$kver" "$cache/vmlinuz"
	mv "$tmp/initramfs.cpio.gz" "$cache/initramfs-$stamp.cpio.gz"
	echo "$kver" >"$cache/kernel-version"
	echo "run-in-vm: kernel $kver and a new initramfs in $cache" >&2
}

# Only one preparation at a time (meson may start several tests).
exec 9>"$cache/.lock"
flock 9
prepare
flock -u 9
[[ $mode == prepare ]] && { echo "kernel $(cat "$cache/kernel-version") and initramfs in $cache"; exit 0; }

# --- one boot --------------------------------------------------------------------------------
job=$(mktemp -d "${SLABD_VM_JOBDIR:-/var/tmp}/slabd-vm-job.XXXXXX") || die "cannot create a job directory"
qemu_pid=
# Stop qemu itself (its pid file; killing only `timeout` would leave it running), then the
# timeout process, each with TERM and after 5 s KILL.
stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
cleanup() {
	if [[ -n $qemu_pid ]]; then
		stop_pid "$(cat "$job/qemu.pid" 2>/dev/null)"
		stop_pid "$qemu_pid"
	fi
	rm -rf "$job"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# /tmp and /run are tmpfs in the guest: a working directory there (a build tree in /tmp) is
# bound in from the host's (read-only, or through the overlay with --writable). What is
# bound is its top directory under /tmp or /run (/tmp/clone for /tmp/clone/build), so a
# checkout's source tree comes with its build tree: the systemd test runs a script of the
# source tree and `meson install` reads it (CI in a clone under /tmp failed with 127).
expose=
case $workdir in
/tmp/?* | /run/?*) expose=$(printf '%s\n' "$workdir" | cut -d/ -f1-3) ;;
esac
[[ $workdir == *[[:space:]]* ]] && die "the working directory has a space in its name: $workdir"

# The job: cd, environment, the command; quoted by bash, run by the host's bash in the guest.
{
	printf 'cd %q || exit 126\n' "$workdir"
	printf 'export HOME=/tmp PATH=%q\n' "$PATH"
	for e in "${envs[@]}"; do
		printf 'export %q\n' "$e"
	done
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$job/job.sh"
nonce=slabd-vm-$RANDOM$RANDOM$RANDOM

# KVM only if it is there and a short boot with it works (this kind of machine has shown a
# /dev/kvm whose guests hang right after the kernel loads); the result is kept for an hour.
kvm_works() {
	local mark=$cache/kvm-probe now
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 1
	now=$(date +%s)
	if [[ -f $mark ]] && ((now - $(stat -c %Y "$mark") < 3600)); then
		[[ $(cat "$mark") == ok ]]
		return
	fi
	if SLABD_VM_ACCEL=kvm timeout -k 2 30 "$self" --accel kvm --timeout 20 -- true >/dev/null 2>&1; then
		echo ok >"$mark"
		return 0
	fi
	echo failed >"$mark"
	return 1
}
if [[ $accel == auto ]]; then
	if kvm_works; then accel=kvm; else accel=tcg; fi
fi
if [[ $accel == kvm ]]; then
	accel_args=(-accel kvm -cpu host)
else
	accel_args=(-accel "tcg,thread=multi" -cpu max)
fi

cmdline="console=ttyS0 panic=-1 intel_iommu=on mitigations=off"
cmdline+=" slabd_vm.nonce=$nonce slabd_vm.job=$job slabd_vm.mode=$mode"
cmdline+=" slabd_vm.hugepages=$hugepages slabd_vm.writable=$writable slabd_vm.expose=$expose"
cmdline+=" slabd_vm.init=$init"

: >"$job/console"
: >"$job/out"
start=$(date +%s.%N)
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-name slabd-vm -nodefaults -no-user-config -nographic -display none -no-reboot \
	"${accel_args[@]}" \
	-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on \
	-smp 2,sockets=2,cores=1,threads=1 -m $((2 * mem_mib)) \
	-object memory-backend-ram,id=m0,size=${mem_mib}M -object memory-backend-ram,id=m1,size=${mem_mib}M \
	-numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
	-kernel "$cache/vmlinuz" -initrd "$cache/initramfs-$stamp.cpio.gz" -append "$cmdline" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-netdev hubport,id=n0,hubid=0 -device e1000e,netdev=n0,addr=04.0 \
	-netdev hubport,id=n1,hubid=0 -device e1000e,netdev=n1,addr=05.0 \
	-serial "file:$job/console" -serial "file:$job/out" \
	-monitor none -pidfile "$job/qemu.pid" </dev/null >"$job/qemu.err" 2>&1 &
qemu_pid=$!

# Stream the command's output while it runs; the status line (with our nonce) is not output.
tail_pid=
if [[ $verbose == 1 ]]; then
	tail -n +1 -f --pid=$qemu_pid "$job/console" >&2 &
	tail_pid=$!
fi
tail -n +1 -f --pid=$qemu_pid "$job/out" | grep --line-buffered -v "^$nonce exit=" &
out_pid=$!
wait $qemu_pid
qstatus=$?
qemu_pid=
wait $out_pid 2>/dev/null
[[ -n $tail_pid ]] && wait $tail_pid 2>/dev/null
end=$(date +%s.%N)

status=$(sed -n "s/^$nonce exit=\([0-9]*\).*/\1/p" "$job/out" | tail -1)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [[ $qstatus == 124 || $qstatus == 137 ]]; then
	echo "run-in-vm: TIME LIMIT: the guest was stopped after ${timeout_s}s ($accel); its console:" >&2
	tail -n 40 "$job/console" >&2
	exit 124
fi
if [[ -z $status ]]; then
	echo "run-in-vm: the guest reported no exit status (qemu exit $qstatus after ${secs}s, $accel)." >&2
	echo "--- qemu:" >&2
	cat "$job/qemu.err" >&2
	echo "--- guest console (last 60 lines):" >&2
	tail -n 60 "$job/console" >&2
	exit 125
fi
grep -h '^slabd-vm:' "$job/console" >&2
echo "run-in-vm: guest exit status $status after ${secs}s (boot, command and power-off; $accel)" >&2
if [[ $status == 125 ]]; then
	tail -n 40 "$job/console" >&2
fi
exit "$status"
