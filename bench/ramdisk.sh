#!/usr/bin/env bash
# bench/ramdisk.sh - a steady disk for benchmarks: each lab server gets an
# ext4 image that lives on a tmpfs, loop-mounted at /srv/bench-ram inside the
# server (and at $LAB_RUN/bench-ram/NAME.mnt on the operator, where datasets
# are generated without ssh). The lab's own disks drift 2-3x within minutes
# (they are files on this VM's virtual disk); memory does not, so timings on
# this disk measure the tools, not the VM. ext4 keeps the file system's own
# costs (inodes, journal, directories) in the measure. One inode per 4 KiB:
# the Mastodon-like tree's hash directories (4-5 per file) run a default
# ext4 (one per 16 KiB) out of inodes long before it runs out of space.
#
#   bash bench/ramdisk.sh on [GIB]   # GIB per server (sparse; default 12)
#   bash bench/ramdisk.sh status
#   bash bench/ramdisk.sh off        # unmount and free the memory
#
# The running servers are not restarted: the disk is mounted into each
# server's mount namespace (nsenter), beside its usual disks.
set -euo pipefail
LAB_STATE=${LAB_STATE:-/var/lib/migrate-lab}
LAB_RUN=${LAB_RUN:-/run/migrate-lab}
RAM=$LAB_RUN/bench-ram
MNT=/srv/bench-ram
HOSTS=(src dst)

pid_of() { docker inspect -f '{{.State.Pid}}' "lab-$1"; }
in_server() { nsenter -t "$(pid_of "$1")" -m -- sh -c "$2"; }
loop_of() { losetup -j "$RAM/$1.img" | cut -d: -f1 | head -n 1; }

on() {
  local gib=${1:-12}
  [[ $gib =~ ^[0-9]+$ ]] || { echo "size must be a whole number of GiB, not '$gib'" >&2; exit 2; }
  for h in "${HOSTS[@]}"; do
    docker inspect "lab-$h" >/dev/null 2>&1 || { echo "lab-$h is not running: bash lab/up.sh" >&2; exit 2; }
  done
  mkdir -p "$RAM"
  if ! mountpoint -q "$RAM"; then
    # Only what is written takes memory, but a benchmark that fills the
    # tmpfs must fail with ENOSPC, not push the machine into the OOM killer.
    local avail_kib; avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    local cap_gib=$(( avail_kib / 1048576 - 3 ))
    if (( cap_gib < 4 )); then
      echo "only $(( avail_kib / 1048576 )) GiB of memory is available; a ram disk needs at least 7" >&2
      exit 2
    fi
    mount -t tmpfs -o "size=${cap_gib}g,mode=700" migrate-bench-ram "$RAM"
    echo "tmpfs $RAM: at most $cap_gib GiB (MemAvailable less 3 GiB)"
  fi
  for h in "${HOSTS[@]}"; do
    local img=$RAM/$h.img
    if [[ ! -f $img ]]; then
      truncate -s "${gib}G" "$img"
      mkfs.ext4 -q -i 4096 -L "bench-$h" -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$img"
    fi
    local loop; loop=$(loop_of "$h")
    [[ -n $loop ]] || loop=$(losetup -f --show "$img")
    mkdir -p "$RAM/$h.mnt"
    # discard: a deleted file's blocks go back to the tmpfs (the loop
    # device punches holes in the image), so rounds that write and remove
    # whole copies do not grow the image until memory runs out.
    mountpoint -q "$RAM/$h.mnt" || mount -o discard "$loop" "$RAM/$h.mnt"
    local mm; mm=$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')
    # A server's /dev was populated when it started: the loop device made
    # now needs its node there.
    in_server "$h" "mountpoint -q $MNT && exit 0; rm -f /dev/bench-ram; mknod /dev/bench-ram b ${mm%:*} ${mm#*:}; mkdir -p $MNT && mount -o discard /dev/bench-ram $MNT"
    echo "$h: $MNT is ext4 on $loop ($img, ${gib} GiB sparse, in memory)"
  done
}

off() {
  for h in "${HOSTS[@]}"; do
    if docker inspect "lab-$h" >/dev/null 2>&1; then
      in_server "$h" "if mountpoint -q $MNT; then umount $MNT; fi; rm -f /dev/bench-ram" || true
    fi
    if mountpoint -q "$RAM/$h.mnt" 2>/dev/null && ! umount "$RAM/$h.mnt"; then
      echo "$RAM/$h.mnt is busy; held by:" >&2
      fuser -vm "$RAM/$h.mnt" >&2 || true
      exit 1
    fi
    local loop; loop=$(loop_of "$h" 2>/dev/null || true)
    [[ -z $loop ]] || losetup -d "$loop"
  done
  if mountpoint -q "$RAM" 2>/dev/null; then umount "$RAM"; fi
  rmdir "$RAM" 2>/dev/null || true
  echo "bench ram disks removed"
}

status() {
  if ! mountpoint -q "$RAM" 2>/dev/null; then echo "off"; return; fi
  df -h "$RAM" | tail -1
  for h in "${HOSTS[@]}"; do
    echo "$h: $(in_server "$h" "df -h $MNT | tail -1" 2>/dev/null || echo 'not mounted')"
  done
}

case ${1:-} in
  on) on "${2:-}" ;;
  off) off ;;
  status) status ;;
  *) echo "usage: bash bench/ramdisk.sh on [GIB] | status | off" >&2; exit 2 ;;
esac
