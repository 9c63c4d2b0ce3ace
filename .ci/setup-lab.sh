#!/usr/bin/env bash
# .ci/setup-lab.sh - install what the two-server lab needs and bring it up.
#
#   bash .ci/setup-lab.sh [--smoke]
#
# Run as root on Debian bookworm (CI=true, no stdin is fine).  Idempotent: when the
# lab is already up it only checks it (about 2 s).  Cold (nothing cached) it takes
# about 2-3 minutes: apt-get, debootstrap of the servers' rootfs, docker import.
# Starts a dockerd only if none answers (PID in /run/migrate-lab/dockerd.pid) and
# never stops one.  Leaves the lab UP.  Progress goes to stderr; stdout is the
# `export LAB_...` lines, so `eval "$(bash .ci/setup-lab.sh)"` works.
#   --smoke   also run lab/smoke.sh (about 10 s) and fail if any check fails
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMOKE=0
for a in "$@"; do case "$a" in --smoke) SMOKE=1;; *) echo "usage: $0 [--smoke]" >&2; exit 2;; esac; done
say() { printf '[setup-lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
[[ $EUID -eq 0 ]] || { say "ERROR: run as root (loop devices, dockerd, /root/.ssh/config)"; exit 1; }
t0=$(date +%s)

# command -> Debian package providing it, for everything lab/*.sh runs on the operator
declare -A NEED=(
  [dockerd]=docker.io [docker-init]=docker.io [debootstrap]=debootstrap
  [iptables-legacy]=iptables [tc]=iproute2 [rsync]=rsync [hyperfine]=hyperfine
  [ssh]=openssh-client [ssh-keygen]=openssh-client [mkfs.ext4]=e2fsprogs [zstd]=zstd
  [losetup]=mount [findmnt]=util-linux [flock]=util-linux [setsid]=util-linux
  [/usr/bin/python3]=python3 [awk]=mawk [sha256sum]=coreutils
)
missing=()
for c in "${!NEED[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("${NEED[$c]}"); done
# the docker CLI may come from elsewhere (/usr/local/bin/docker); docker.io brings one too
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [[ ${#missing[@]} -gt 0 ]]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing: ${missing[*]}"
  # No init system here: keep package scripts from starting a dockerd of their own
  # (its PID would be recorded nowhere).  Only a policy file we created is removed.
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  trap '[[ $made_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || say "warning: apt-get update reported errors; trying the install anyway"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  [[ $made_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d; made_policy=0
fi

# builds or reuses the rootfs (/var/cache/migrate-lab), starts dockerd if needed,
# starts or repairs both servers, waits for sshd and their docker engines
LAB_QUIET=1 bash "$ROOT/lab/up.sh" >&2
bash "$ROOT/lab/env.sh" --check || { say "ERROR: lab is not reachable over ssh after up.sh"; exit 1; }
if [[ $SMOKE -eq 1 ]]; then bash "$ROOT/lab/smoke.sh" >&2; fi
say "lab is up in $(( $(date +%s) - t0 )) s; variables: bash lab/env.sh --export"
bash "$ROOT/lab/env.sh" --export
