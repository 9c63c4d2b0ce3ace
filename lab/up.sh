#!/usr/bin/env bash
# up.sh - bring the two-server lab up (idempotent; re-running fixes what is missing
# or stale, and takes a few seconds when everything is already up).
#
#   src  = container lab-src, sshd on 127.0.0.2:22, own rootfs (docker overlay)
#   dst  = container lab-dst, sshd on 127.0.0.3:22, own rootfs
#   both: --network host (loopback only, nothing else is reachable/used),
#         (almost) privileged (for their own dockerd); persistent /srv and
#         /var/lib/{docker,postgresql,mysql} on the server's own ext4 "disk"
#         ($LAB_STATE/disks/NAME.img, loop-mounted at $LAB_STATE/hosts/NAME/disk).
#   operator = this machine (127.0.0.1): `ssh src`, `ssh dst` via an Include
#              in /root/.ssh/config; as root, src and dst can `ssh dst` / `ssh src`.
#
# Env knobs: LAB_SERVICES="postgresql docker" (add mariadb), LAB_STATE, LAB_CACHE.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
[[ $EUID -eq 0 ]] || die "run as root (loop devices, containers, /root/.ssh/config)"
mkdir -p "$LAB_STATE/hosts" "$LAB_RUN" && chmod 700 "$LAB_STATE"
# one up.sh at a time: parallel test setups must not race on keys and containers
exec 9>"$LAB_RUN/lab.lock"; flock 9
TIMES="$LAB_STATE/timings.txt"
t_all=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
apt_install() {  # install missing Debian packages (CI machines start bare)
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# 0. the operator's docker engine: re-use one that answers; otherwise start one and
#    record its PID in $LAB_RUN/dockerd.pid (down.sh --dockerd stops only that one).
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || apt_install docker.io
  log "no docker daemon answering; starting dockerd (log: /var/log/migrate-lab-dockerd.log)"
  # No bridge, no iptables: the lab containers use the host network, and the
  # operator's network and firewall stay as they were.
  setsid -f dockerd --pidfile "$LAB_RUN/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    </dev/null >>/var/log/migrate-lab-dockerd.log 2>&1 9>&-   # 9>&-: must not hold our lock
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/migrate-lab-dockerd.log >&2; die "dockerd did not come up"; }
  log "dockerd running, pid $(cat "$LAB_RUN/dockerd.pid")"
fi

# 1. rootfs tarball (cached in $LAB_CACHE, named after the recipe's hash) and docker image
"$HERE/build-rootfs.sh"
if ! docker image inspect "$LAB_IMAGE" >/dev/null 2>&1; then
  t=$(date +%s.%N); log "docker import $LAB_ROOTFS_TAR -> $LAB_IMAGE"
  zstd -dc "$LAB_ROOTFS_TAR" | docker import --change 'CMD ["/usr/local/sbin/lab-init"]' - "$LAB_IMAGE" >/dev/null
  echo "docker_import_s=$(elapsed "$t")" >> "$TIMES"
fi

# 2. keys: operator key, per-server host keys and per-server root client key.
#    Kept across down/up, so known_hosts entries stay valid.
[[ -f "$LAB_STATE/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C operator@lab -f "$LAB_STATE/id_ed25519"
for h in "${LAB_HOSTS[@]}"; do
  S="$LAB_STATE/hosts/$h"
  mkdir -p "$S/hostkeys" "$S/root_ssh" "$S/lab" "$S/disk" "$LAB_STATE/disks"
  chmod 700 "$S/root_ssh"
  [[ -f "$S/hostkeys/ssh_host_ed25519_key" ]] || ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$S/hostkeys/ssh_host_ed25519_key"
  [[ -f "$S/hostkeys/ssh_host_rsa_key" ]] || ssh-keygen -q -t rsa -b 3072 -N '' -C "root@$h" -f "$S/hostkeys/ssh_host_rsa_key"
  [[ -f "$S/root_ssh/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$S/root_ssh/id_ed25519"
done
# per-server data disk (own ext4 filesystem on a loop device)
for h in "${LAB_HOSTS[@]}"; do
  S="$LAB_STATE/hosts/$h"; img="$LAB_STATE/disks/$h.img"
  if ! mountpoint -q "$S/disk"; then
    if [[ ! -f "$img" ]]; then
      t=$(date +%s.%N)
      truncate -s "$LAB_DISK_SIZE" "$img"
      mkfs.ext4 -q -L "lab-$h" -E lazy_itable_init=0,lazy_journal_init=0 "$img"
      echo "mkfs_${h}_s=$(elapsed "$t")" >> "$TIMES"
    fi
    loopdev=$(losetup -f --show --direct-io="${LAB_LOOP_DIRECT_IO:-off}" "$img")
    mount -o noatime "$loopdev" "$S/disk"
  fi
  for m in "${LAB_DATA_DIRS[@]}"; do mkdir -p "$S/disk/${m%%:*}"; done
done
# root's authorized_keys: operator + every server (so src->dst and dst->src work);
# known_hosts: all servers, pinned (for the operator and for root on each server)
{ cat "$LAB_STATE/id_ed25519.pub"; for h in "${LAB_HOSTS[@]}"; do cat "$LAB_STATE/hosts/$h/root_ssh/id_ed25519.pub"; done; } > "$LAB_STATE/authorized_keys.new"
kh="$LAB_STATE/known_hosts.new"; : > "$kh"
for h in "${LAB_HOSTS[@]}"; do
  for k in ed25519 rsa; do
    echo "$h,lab-$h,${LAB_IP[$h]} $(cut -d' ' -f1-2 "$LAB_STATE/hosts/$h/hostkeys/ssh_host_${k}_key.pub")" >> "$kh"
  done
done
# Add what is missing, never rewrite: tests install and remove temporary keys in
# root's authorized_keys/known_hosts while a warm up.sh may run next to them.
merge_lines() {  # merge_lines FROM TO MODE
  [[ -f "$2" ]] || install -m "$3" /dev/null "$2"
  local line
  while IFS= read -r line; do grep -qxF -- "$line" "$2" || printf '%s\n' "$line" >> "$2"; done < "$1"
}
for h in "${LAB_HOSTS[@]}"; do
  merge_lines "$LAB_STATE/authorized_keys.new" "$LAB_STATE/hosts/$h/root_ssh/authorized_keys" 600
  merge_lines "$kh" "$LAB_STATE/hosts/$h/root_ssh/known_hosts" 644
done
mv "$LAB_STATE/authorized_keys.new" "$LAB_STATE/authorized_keys"
chmod 644 "$kh"; mv "$kh" "$LAB_STATE/known_hosts"

# 3. operator ssh config (Included from /root/.ssh/config) and /etc/hosts names
cat > "$LAB_STATE/ssh_config.new" <<EOF
# migrate-lab operator ssh config (generated by $HERE/up.sh)
Host src lab-src
    HostName ${LAB_IP[src]}
Host dst lab-dst
    HostName ${LAB_IP[dst]}
Host src lab-src dst lab-dst ${LAB_IP[src]} ${LAB_IP[dst]}
    User root
    Port $LAB_SSH_PORT
    IdentityFile $LAB_STATE/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $LAB_STATE/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
EOF
mv "$LAB_STATE/ssh_config.new" "$LAB_STATE/ssh_config"
mkdir -p /root/.ssh && chmod 700 /root/.ssh && touch /root/.ssh/config
if ! grep -qF "Include $LAB_STATE/ssh_config" /root/.ssh/config; then
  # Include must come before any Host block to apply globally -> prepend
  { echo "Include $LAB_STATE/ssh_config   # migrate-lab"; cat /root/.ssh/config; } > /root/.ssh/config.new
  mv /root/.ssh/config.new /root/.ssh/config; chmod 600 /root/.ssh/config
fi
if ! grep -q '# migrate-lab$' /etc/hosts; then
  for h in "${LAB_HOSTS[@]}"; do echo "${LAB_IP[$h]} $h lab-$h   # migrate-lab"; done >> /etc/hosts
fi

# 4. containers
# "privileged enough" for an inner dockerd. Plain --privileged fails on machines whose
# capability bounding set lacks a cap (here: CAP_SYS_RESOURCE -> "unable to apply caps"),
# so grant every cap we have, no seccomp/apparmor, all devices, writable cgroups.
PRIV_OPTS=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined
           --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm'
           -v /sys/fs/cgroup:/sys/fs/cgroup)
CAPS=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
      NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO
      SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
      SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
      WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
bnd=$((16#$(awk '/^CapBnd/{print $2}' /proc/self/status))); DROP=()
for i in "${!CAPS[@]}"; do (( (bnd >> i) & 1 )) || DROP+=(--cap-drop "${CAPS[$i]}"); done
if [[ ${#DROP[@]} -eq 0 ]]; then PRIV_OPTS+=(--privileged); else PRIV_OPTS+=(--cap-add ALL "${DROP[@]}"); fi
ADD_HOSTS=(); for h in "${LAB_HOSTS[@]}"; do ADD_HOSTS+=(--add-host "$h:${LAB_IP[$h]}" --add-host "lab-$h:${LAB_IP[$h]}"); done
# A container made from another image, init script or service list is stale:
# recreate it (the disk, keys and /root/.ssh survive).  Bump RUN_REV when the
# docker run options below change.
RUN_REV=2
REV=$( { echo "$RUN_REV $LAB_IMAGE $LAB_SERVICES"; cat "$HERE/lab-init.sh"; } | sha256sum | cut -c1-12)
for h in "${LAB_HOSTS[@]}"; do
  S="$LAB_STATE/hosts/$h"
  state=$(docker inspect -f '{{.State.Running}} {{index .Config.Labels "migrate-lab.rev"}}' "lab-$h" 2>/dev/null) || state=none
  if [[ "$state" == "true $REV" ]]; then log "lab-$h already running"; continue; fi
  if [[ "$state" != none ]]; then
    log "replacing lab-$h (state: ${state%% *}; stale or stopped)"
    "$HERE/down.sh" --host "$h" >/dev/null
  fi
  DATA_MOUNTS=(); for m in "${LAB_DATA_DIRS[@]}"; do DATA_MOUNTS+=(-v "$S/disk/${m%%:*}:${m#*:}"); done
  mountpoint -q "$S/disk" || die "$S/disk is not mounted"
  t=$(date +%s.%N)
  docker run -d --name "lab-$h" --hostname "$h" --label migrate-lab=1 --label "migrate-lab.rev=$REV" \
    --network host --init "${PRIV_OPTS[@]}" \
    --tmpfs /run:rw,nosuid,nodev,exec,mode=755 \
    -e LAB_NAME="$h" -e LAB_ADDR="${LAB_IP[$h]}" -e LAB_SERVICES="$LAB_SERVICES" \
    -v "$HERE/lab-init.sh:/usr/local/sbin/lab-init:ro" \
    -v "$S/hostkeys:/etc/ssh/lab-hostkeys:ro" \
    -v "$LAB_STATE/id_ed25519.pub:/etc/ssh/lab-operator.pub:ro" \
    -v "$S/root_ssh:/root/.ssh" \
    -v "$S/lab:/lab" "${DATA_MOUNTS[@]}" \
    "${ADD_HOSTS[@]}" "$LAB_IMAGE" /usr/local/sbin/lab-init >/dev/null
  echo "docker_run_${h}_s=$(elapsed "$t")" >> "$TIMES"
done

# 5. wait until sshd answers, then (if enabled) until the server's dockerd answers;
#    give each inner engine a tiny busybox image and a Debian one (no registry
#    is reachable)
for h in "${LAB_HOSTS[@]}"; do
  t=$(date +%s.%N)
  for _ in $(seq 150); do ssh -F "$LAB_STATE/ssh_config" -o ConnectTimeout=2 "$h" true 2>/dev/null && break; sleep 0.2; done
  ssh -F "$LAB_STATE/ssh_config" -o ConnectTimeout=5 "$h" true || { docker logs --tail 30 "lab-$h" >&2; die "sshd of $h does not answer"; }
  echo "sshd_ready_${h}_s=$(elapsed "$t")" >> "$TIMES"
  if [[ " $LAB_SERVICES " == *" docker "* ]]; then
    ssh -F "$LAB_STATE/ssh_config" "$h" bash -s <<'EOF' || die "the docker engine inside $h is not ready"
for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || { tail -20 /var/log/dockerd.log >&2; exit 1; }
if ! docker image inspect lab/busybox:latest >/dev/null 2>&1; then
  d=$(mktemp -d); mkdir -p "$d/bin" "$d/tmp" "$d/etc"
  cp /bin/busybox "$d/bin/"; for a in $(/bin/busybox --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$d/etc/passwd"
  tar -C "$d" -cf - . | docker import -c 'CMD ["/bin/sh"]' - lab/busybox:latest >/dev/null
  rm -rf "$d"
fi
# The server's own Debian (PostgreSQL 15, MariaDB, Python) as an image, for
# apps laid out as compose projects (examples/lab-*/compose). The engine's
# images outlive the server's container (they sit on its data disk), so the
# image is labelled with the server's package list and imported again when
# a new rootfs brings other packages.
pk=$(md5sum < /var/lib/dpkg/status | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "lab.packages"}}' lab/debian:1 2>/dev/null)" != "$pk" ]; then
  (cd / && tar -c --exclude=usr/sbin/dockerd --exclude='usr/bin/containerd*' --exclude='usr/bin/docker*' \
     --exclude=etc/ssh --exclude=usr/share/doc --exclude=usr/share/man --exclude=usr/share/locale \
     bin sbin lib lib64 usr etc var/lib/dpkg var/run 2>/dev/null) \
    | docker import -c 'LABEL org.opencontainers.image.version=lab-1' -c "LABEL lab.packages=$pk" - lab/debian:1 >/dev/null
fi
EOF
    echo "dockerd_ready_${h}_s=$(elapsed "$t")" >> "$TIMES"
  fi
done

# 6. images of older recipes are unused now (their containers were replaced above)
for img in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE_REPO"); do
  [[ "$img" == "$LAB_IMAGE" ]] || { docker rmi "$img" >/dev/null 2>&1 && log "removed stale image $img"; } || true
done
echo "up_total_s=$(elapsed "$t_all")" >> "$TIMES"
log "lab is up ($(elapsed "$t_all") s)"
[[ "${LAB_QUIET:-0}" == 1 ]] || "$HERE/env.sh"
