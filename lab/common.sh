# common.sh - shared settings for the migrate lab (sourced by the other scripts)
# shellcheck shell=bash disable=SC2034
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_CACHE="${LAB_CACHE:-/var/cache/migrate-lab}"          # rootfs tarball (kept between runs)
LAB_STATE="${LAB_STATE:-/var/lib/migrate-lab}"             # keys, ssh_config, per-host data
LAB_RUN="${LAB_RUN:-/run/migrate-lab}"                     # locks, pid of a dockerd we started
# The rootfs recipe is build-rootfs.sh itself: its hash names the cached tarball
# and the docker image, so any change to the package list or the configuration
# steps gives a new name and a stale cache can never be picked up.
LAB_ROOTFS_ID="$(sha256sum "$LAB_DIR/build-rootfs.sh" | cut -c1-12)"
LAB_ROOTFS_TAR="$LAB_CACHE/rootfs-bookworm-$LAB_ROOTFS_ID.tar.zst"
LAB_IMAGE_REPO="migrate-lab/debian"
LAB_IMAGE="${LAB_IMAGE:-$LAB_IMAGE_REPO:bookworm-$LAB_ROOTFS_ID}"
LAB_HOSTS=(src dst)
declare -A LAB_IP=([src]=127.0.0.2 [dst]=127.0.0.3)         # each server's loopback address
LAB_OP_IP=127.0.0.1                                          # the operator (this machine)
LAB_SSH_PORT=22
# services started inside each server at boot (subset of: postgresql mariadb docker)
LAB_SERVICES="${LAB_SERVICES:-postgresql docker}"
# each server's data disk: sparse ext4 image on a loop device, mounted at
# $LAB_STATE/hosts/NAME/disk and bind-mounted into the server as /srv and
# /var/lib/{docker,postgresql,mysql}.  (The root fs here is mounted with
# `discard`, which makes deleting 100k files take minutes; the loop fs is not.)
LAB_DISK_SIZE="${LAB_DISK_SIZE:-40G}"
LAB_DATA_DIRS=(srv:/srv docker:/var/lib/docker postgresql:/var/lib/postgresql mysql:/var/lib/mysql)

log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# the services the running servers were started with (up.sh may have been run with
# another LAB_SERVICES than this shell has); falls back to $LAB_SERVICES
lab_running_services() {
  local s
  s=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' lab-src 2>/dev/null | sed -n 's/^LAB_SERVICES=//p')
  echo "${s:-$LAB_SERVICES}"
}
