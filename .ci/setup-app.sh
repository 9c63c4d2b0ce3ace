#!/bin/bash
# CI for `migrate app` (tests/it/app_*.rs, examples/lab-nextcloud): the
# two-server lab must be up (its own script installs and starts it), and the
# servers need the tools the stand-in app and the migration use. Idempotent;
# fast when done. Run as root with CI=true from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! lab/env.sh --check >/dev/null 2>&1; then
  bash .ci/setup-lab.sh
fi
# The DNS part of the Nextcloud test starts its own Knot servers (knotd,
# kdig, knotc from the DNS engineer's setup).
if ! command -v knotd >/dev/null || ! command -v kdig >/dev/null; then
  bash .ci/setup-dns.sh
fi
# What the app tests use on each server (all in the lab's rootfs): python3
# for the stand-in web front and occ, curl for its start command, perl for
# version probes, runuser/psql/pg_dump for the database, tar/sha256sum.
for h in src dst; do
  missing=$(ssh -o BatchMode=yes "$h" 'for t in python3 curl perl runuser psql pg_dump tar sha256sum; do command -v $t >/dev/null || printf "%s " $t; done')
  if [[ -n $missing ]]; then
    echo "setup-app: $h lacks: $missing(add them to lab/build-rootfs.sh)" >&2
    exit 1
  fi
done
echo "setup-app: lab ready for the app tests"
