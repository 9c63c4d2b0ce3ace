#!/usr/bin/env bash
# env.sh - print how to reach the lab servers.
#   ./env.sh                      human-readable connection info + status
#   eval "$(./env.sh --export)"   export LAB_* variables (for tests / the migrate CLI)
#   ./env.sh --check              exit 0 iff both servers answer ssh (quiet; for tests)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
LAB_SERVICES=$(lab_running_services)

case "${1:-}" in
--export)
  # Values only, nothing secret: LAB_SSH_KEY is the path of the operator's key.
  cat <<EOF
export LAB_DIR=$LAB_DIR
export LAB_STATE=$LAB_STATE
export LAB_SSH_CONFIG=$LAB_STATE/ssh_config
export LAB_SSH_KEY=$LAB_STATE/id_ed25519
export LAB_KNOWN_HOSTS=$LAB_STATE/known_hosts
export LAB_SSH_PORT=$LAB_SSH_PORT LAB_SSH_USER=root LAB_SUDO_USER=deploy
export LAB_SRC=src LAB_DST=dst
export LAB_SRC_HOST=${LAB_IP[src]} LAB_DST_HOST=${LAB_IP[dst]} LAB_OPERATOR_HOST=$LAB_OP_IP
export LAB_SRC_URL=ssh://root@${LAB_IP[src]}:$LAB_SSH_PORT LAB_DST_URL=ssh://root@${LAB_IP[dst]}:$LAB_SSH_PORT
export LAB_SRC_DOCKER_HOST=unix://$LAB_STATE/hosts/src/lab/docker.sock
export LAB_DST_DOCKER_HOST=unix://$LAB_STATE/hosts/dst/lab/docker.sock
export LAB_SRC_DISK=$LAB_STATE/hosts/src/disk LAB_DST_DISK=$LAB_STATE/hosts/dst/disk
export LAB_SERVICES="$LAB_SERVICES"
EOF
  exit 0;;
--check)
  for h in "${LAB_HOSTS[@]}"; do
    ssh -F "$LAB_STATE/ssh_config" -o ConnectTimeout=3 "$h" true 2>/dev/null || exit 1
  done
  exit 0;;
"") ;;
*) echo "usage: $0 [--export | --check]" >&2; exit 2;;
esac

echo "migrate lab  (state: $LAB_STATE, image: $LAB_IMAGE)"
printf '%-4s %-14s %-9s %-6s %s\n' host address container sshd docker-engine
for h in "${LAB_HOSTS[@]}"; do
  run=$(docker inspect -f '{{.State.Status}}' "lab-$h" 2>/dev/null || echo absent)
  sshok=down; ssh -F "$LAB_STATE/ssh_config" -o ConnectTimeout=2 "$h" true 2>/dev/null && sshok=up
  dk=down; [[ -S "$LAB_STATE/hosts/$h/lab/docker.sock" ]] && \
    DOCKER_HOST="unix://$LAB_STATE/hosts/$h/lab/docker.sock" docker version -f '{{.Server.Version}}' >/dev/null 2>&1 && dk=up
  printf '%-4s %-14s %-9s %-6s %s\n' "$h" "${LAB_IP[$h]}:$LAB_SSH_PORT" "$run" "$sshok" "$dk"
done
cat <<EOF

ssh (operator = this machine, 127.0.0.1):
  ssh src | ssh dst                  (root, key $LAB_STATE/id_ed25519; /root/.ssh/config Includes $LAB_STATE/ssh_config)
  ssh -F $LAB_STATE/ssh_config src   (explicit, e.g. for CI)
  raw: ssh -i $LAB_STATE/id_ed25519 -o UserKnownHostsFile=$LAB_STATE/known_hosts root@${LAB_IP[src]}
  server to server: ssh src 'ssh dst hostname'   (as root: keys cross-authorized, host keys pinned)
  deploy@src, deploy@dst (uid 1000, NOPASSWD sudo): operator key authorized; the servers do NOT
    trust each other as deploy and know no host keys (a fresh server pair, for temporary-trust tests)
each server's own docker engine (dockerd inside the container, data in /var/lib/docker there):
  DOCKER_HOST=unix://$LAB_STATE/hosts/src/lab/docker.sock docker ps     (or: ssh src docker ps, or DOCKER_HOST=ssh://src)
  DOCKER_HOST=unix://$LAB_STATE/hosts/dst/lab/docker.sock docker ps
  image available in each engine: lab/busybox:latest
databases (services: $LAB_SERVICES): postgres 15 on <addr>:5432 (local: ssh src sudo -u postgres psql);
  mariadb on <addr>:3306 when LAB_SERVICES includes mariadb
per-server data disk (own ext4 on a loop device, $LAB_DISK_SIZE sparse): $LAB_STATE/disks/{src,dst}.img,
  mounted on the operator at $LAB_STATE/hosts/{src,dst}/disk/{srv,docker,postgresql,mysql}
  (= /srv, /var/lib/docker, /var/lib/postgresql, /var/lib/mysql inside the server)
  /mnt/tiny in each server: an 8 MiB tmpfs, for "disk full" tests
whole server filesystem from the operator: /proc/\$(docker inspect -f '{{.State.Pid}}' lab-src)/root/
shaping: $HERE/shape.sh status|on|off
EOF
