#!/usr/bin/env bash
# build-rootfs.sh - build (once) the Debian bookworm rootfs used by both lab
# servers and cache it as a zstd tarball.  Idempotent: does nothing when the
# cached tarball exists (use --force to rebuild).  The tarball is named after the
# hash of THIS file (see common.sh), so editing the package list or the
# configuration below makes up.sh build and import a new one.
#
#   stage 1: debootstrap --variant=minbase
#   stage 2: chroot apt-get install of the server tools (no recommends),
#            with a policy-rc.d so that no service starts in the chroot
#   stage 3: strip caches + ssh host keys (generated per server by up.sh),
#            pack to $LAB_CACHE/rootfs-bookworm.tar.zst
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"

FORCE=0; [[ "${1:-}" == "--force" ]] && FORCE=1
mkdir -p "$LAB_CACHE"
# one build at a time (two CI jobs or engineers calling up.sh together)
exec 8>"$LAB_CACHE/.build.lock"; flock 8
if [[ -s "$LAB_ROOTFS_TAR" && $FORCE -eq 0 ]]; then
  log "rootfs cache present: $LAB_ROOTFS_TAR ($(du -h "$LAB_ROOTFS_TAR" | cut -f1))"
  exit 0
fi

MIRROR="${LAB_MIRROR:-http://deb.debian.org/debian}"
SECMIRROR="${LAB_SECMIRROR:-http://deb.debian.org/debian-security}"
BUILD="$LAB_CACHE/build"
R="$BUILD/rootfs"

# Packages installed in stage 2. Everything a "real" small self-hosting box has
# for moving data around, plus DB servers and a docker engine.
# What the copy engine relies on: GNU tar (--xattrs/--acls/--sparse), find -printf,
# sha256sum, setsid/tmux for detached runs, getfattr/setfacl, compressors and
# buffers for the pipes; for docker work: the engine, its CLI and compose;
# for the mail-server stand-in (examples/lab-mailu): Dovecot and Postfix.
PKGS=(
  openssh-server openssh-client rsync tar gzip pigz zstd xz-utils bzip2 lz4 pv
  mbuffer socat coreutils findutils util-linux e2fsprogs tmux
  procps psmisc sudo iproute2 iputils-ping netcat-openbsd less vim-tiny file
  acl attr curl ca-certificates openssl jq time sqlite3 busybox-static python3
  postgresql-15 postgresql-client-15 redis-server redis-tools
  dovecot-imapd dovecot-lmtpd postfix
  mariadb-server mariadb-client
  docker.io docker-compose
)

command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap

cleanup_mounts() {
  for m in dev/pts dev proc sys; do
    mountpoint -q "$R/$m" 2>/dev/null && umount -l "$R/$m" || true
  done
}
cleanup_build() {
  cleanup_mounts
  if mountpoint -q "$BUILD" 2>/dev/null; then umount -l "$BUILD"; fi
  rm -rf "$BUILD"
}
trap cleanup_build EXIT

cleanup_build; mkdir -p "$BUILD"
# Build in RAM when there is room: dpkg fsyncs every file, and deleting the 1.1 GB
# tree afterwards takes about 40 s on this machine's discard-mounted root fs.
avail_kb=$(awk '/^MemAvailable/{print $2}' /proc/meminfo)
if [[ "${LAB_BUILD_TMPFS:-auto}" != no ]] && (( avail_kb > 8 * 1024 * 1024 )); then
  mount -t tmpfs -o size=3g,mode=755 lab-rootfs-build "$BUILD"
fi
TIMES="$LAB_CACHE/build-timings.txt"; : > "$TIMES"

t0=$(date +%s)
log "stage 1: debootstrap minbase -> $R"
debootstrap --variant=minbase --components=main bookworm "$R" "$MIRROR" \
  > "$BUILD/debootstrap.log" 2>&1 || { tail -30 "$BUILD/debootstrap.log"; exit 1; }
t1=$(date +%s); echo "debootstrap_minbase_s=$((t1-t0))" >> "$TIMES"

log "stage 2: apt-get install ${#PKGS[@]} packages in chroot"
cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECMIRROR bookworm-security main
EOF
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"; mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"; mount --bind /dev/pts "$R/dev/pts"
chroot "$R" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c "
  set -e
  apt-get update -q
  apt-get install -y -q --no-install-recommends ${PKGS[*]}
" > "$BUILD/apt.log" 2>&1 || { tail -40 "$BUILD/apt.log"; exit 1; }
cleanup_mounts
# fail here, not later inside a server, if a tool the tests rely on is missing
chroot "$R" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c '
  for b in sshd ssh tar rsync zstd pigz sha256sum setsid tmux getfattr setfacl python3 \
           docker dockerd docker-compose pg_ctlcluster psql mariadbd jq curl busybox sudo; do
    command -v $b >/dev/null || { echo "build-rootfs: $b missing in the rootfs" >&2; exit 1; }
  done
  tar --version | grep -q "GNU tar" || { echo "build-rootfs: tar is not GNU tar" >&2; exit 1; }'
t2=$(date +%s); echo "apt_install_s=$((t2-t1))" >> "$TIMES"

log "stage 3: configure + strip"
# sshd: key-only root login; PAM loginuid fails in containers -> optional
sed -i 's/^session\s\+required\s\+pam_loginuid.so/session optional pam_loginuid.so/' "$R/etc/pam.d/sshd"
cat > "$R/etc/ssh/sshd_config.d/lab.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
AcceptEnv LANG LC_*
# several engineers' test suites hit the same two sshds at once; the default
# 10:30:100 drops concurrent unauthenticated connections at random.  MaxSessions
# stays at the default 10, as on a real server.
MaxStartups 100:30:200
EOF
rm -f "$R"/etc/ssh/ssh_host_*
# an unprivileged sudo user, as on many real servers (deploy@host)
chroot "$R" useradd -m -s /bin/bash -u 1000 deploy
echo 'deploy ALL=(ALL) NOPASSWD:ALL' > "$R/etc/sudoers.d/deploy"; chmod 440 "$R/etc/sudoers.d/deploy"
echo 'LANG=C.UTF-8' > "$R/etc/default/locale"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
       "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/var/log/*.log "$R/etc/resolv.conf"
: > "$R/etc/machine-id"
t3=$(date +%s)

log "packing $LAB_ROOTFS_TAR"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$R" -cf - . | zstd -q -T0 -6 -o "$LAB_ROOTFS_TAR.tmp" -f
mv "$LAB_ROOTFS_TAR.tmp" "$LAB_ROOTFS_TAR"
# older recipes' tarballs are never used again (their name carries the old hash)
for old in "$LAB_CACHE"/rootfs-bookworm*.tar.zst; do
  [[ "$old" == "$LAB_ROOTFS_TAR" ]] || { rm -f "$old"; log "removed stale $old"; }
done
t4=$(date +%s); echo "pack_s=$((t4-t3))" >> "$TIMES"
echo "rootfs_unpacked=$(du -sh "$R" | cut -f1)" >> "$TIMES"
echo "rootfs_tar_zst=$(du -h "$LAB_ROOTFS_TAR" | cut -f1)" >> "$TIMES"
cleanup_build
log "done: $(tr '\n' ' ' < "$TIMES")"
