#!/usr/bin/env bash
# The docker tests (tests/it/docker_lab.rs) run against the two-server lab's own
# dockerd on src and dst (lab/up.sh starts them; .ci/setup-lab.sh brings the
# lab up). This script only checks that both engines answer and preloads the
# database image the tests use, made with `docker import` from each server's
# own rootfs (PostgreSQL 15 + MariaDB 10.11; no registry). Idempotent; a few
# seconds when done, about 10 s per server the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
# scripts/services runs the setup scripts in name order, so this one comes
# before setup-lab.sh: bring the lab up here (idempotent, quick when up).
if ! lab/env.sh --check >/dev/null 2>&1; then
  bash .ci/setup-lab.sh
fi
for h in src dst; do
  ssh -o BatchMode=yes "$h" 'docker version >/dev/null' || {
    echo "docker: dockerd on $h does not answer (LAB_SERVICES must include docker)" >&2
    exit 1
  }
  ssh -o BatchMode=yes "$h" "docker image inspect mt-lab/db:1 >/dev/null 2>&1 || (cd / && tar -c \
    --exclude=usr/sbin/dockerd --exclude='usr/bin/containerd*' --exclude='usr/bin/docker*' --exclude=etc/ssh \
    --exclude=usr/share/doc --exclude=usr/share/man --exclude=usr/share/locale \
    bin sbin lib lib64 usr etc var/lib/dpkg 2>/dev/null | docker import -c 'LABEL org.opencontainers.image.version=lab-1' - mt-lab/db:1 >/dev/null)"
done
echo "docker: dockerd answers on src and dst; mt-lab/db:1 present"
