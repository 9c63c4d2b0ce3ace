#!/usr/bin/env bash
# down.sh - stop the lab (idempotent).
#   ./down.sh          stop shaping, stop + remove both server containers, unmount
#                      their data disks; keep $LAB_STATE (keys, disk images holding
#                      /srv, /var/lib/{docker,postgresql,mysql} of each server)
#   ./down.sh --purge  also delete $LAB_STATE, the /root/.ssh/config Include and
#                      the /etc/hosts lines; add --image to also remove the docker image.
#   ./down.sh --dockerd  also stop the operator's dockerd, but only if up.sh started
#                      it (PID recorded in $LAB_RUN/dockerd.pid); never any other one.
#   ./down.sh --host NAME  only stop and remove that server's container (used by up.sh)
# Never deletes the cached rootfs tarball.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
PURGE=0; IMAGE=0; DOCKERD=0; ONLY=""
while [[ $# -gt 0 ]]; do case "$1" in
  --purge) PURGE=1;; --image) IMAGE=1;; --dockerd) DOCKERD=1;;
  --host) ONLY=${2:?--host needs a name}; shift;;
  *) echo "usage: $0 [--purge [--image]] [--dockerd] | --host NAME" >&2; exit 2;; esac; shift; done

stop_container() {  # graceful: let the inner dockerd and the databases shut down cleanly
  local h=$1
  if [[ "$(docker inspect -f '{{.State.Running}}' "lab-$h" 2>/dev/null)" == true ]]; then
    docker exec "lab-$h" sh -c '
      [ -f /run/docker.pid ] && kill "$(cat /run/docker.pid)" 2>/dev/null
      pg_ctlcluster 15 main stop -m fast 2>/dev/null
      [ -f /run/mysqld/mysqld.pid ] && /etc/init.d/mariadb stop >/dev/null 2>&1
      for i in $(seq 50); do [ -f /run/docker.pid ] || break; sleep 0.2; done' || true
  fi
  docker rm -f "lab-$h" >/dev/null 2>&1 && log "removed container lab-$h" || true
  # empty cgroups left by the server's inner dockerd (--cgroup-parent /lab-NAME)
  find /sys/fs/cgroup -depth -type d -path "*/lab-$h*" -exec rmdir {} + 2>/dev/null || true
}

if [[ -n "$ONLY" ]]; then stop_container "$ONLY"; exit 0; fi

mkdir -p "$LAB_RUN"; exec 9>"$LAB_RUN/lab.lock"; flock 9
if docker info >/dev/null 2>&1; then
  "$HERE/shape.sh" off >/dev/null 2>&1 || true
  for h in "${LAB_HOSTS[@]}"; do stop_container "$h"; done
else
  "$HERE/shape.sh" off >/dev/null 2>&1 || true
  log "no docker daemon answering: no containers to stop"
fi

# unmount the per-server data disks (images are kept unless --purge)
for h in "${LAB_HOSTS[@]}"; do
  d="$LAB_STATE/hosts/$h/disk"
  if mountpoint -q "$d" 2>/dev/null; then
    loopdev=$(findmnt -n -o SOURCE "$d")
    umount "$d" && losetup -d "$loopdev" 2>/dev/null; log "unmounted $d ($loopdev)"
  fi
done

if [[ $PURGE -eq 1 ]]; then
  rm -rf "$LAB_STATE" && log "deleted $LAB_STATE"
  if [[ -f /root/.ssh/config ]]; then
    sed -i "\|^Include $LAB_STATE/ssh_config   # migrate-lab\$|d" /root/.ssh/config
    [[ -s /root/.ssh/config ]] || rm -f /root/.ssh/config
  fi
  sed -i '/# migrate-lab$/d' /etc/hosts
  if [[ $IMAGE -eq 1 ]]; then
    for img in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE_REPO" 2>/dev/null); do
      docker rmi "$img" >/dev/null 2>&1 && log "removed image $img" || true
    done
  fi
fi

if [[ $DOCKERD -eq 1 ]]; then
  pidf="$LAB_RUN/dockerd.pid"
  if [[ -s "$pidf" ]] && pid=$(cat "$pidf") && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
    kill "$pid"; for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    log "stopped the dockerd up.sh had started (pid $pid)"
  else
    log "no dockerd started by the lab is running; leaving any other dockerd alone"
  fi
  rm -f "$pidf"
fi
log "lab is down (rootfs cache kept: $LAB_ROOTFS_TAR)"
