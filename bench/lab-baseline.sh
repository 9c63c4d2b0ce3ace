#!/usr/bin/env bash
# bench/lab-baseline.sh - baseline transfer figures of the two-server lab, for
# comparing migrate's own numbers (bench/copy.sh) with what plain tools do here.
#
#   bench/lab-baseline.sh            raw ssh pipes only (about 1 min): src->dst with the
#                                    default cipher and aes128-gcm, and relayed via the operator
#   bench/lab-baseline.sh --tree     also tar/rsync/cp over a Mastodon-like tree
#                                    (FILES=20000 by default; FILES=100000 is the full set, ~30 min)
#   RUNS=3 RAW_BYTES=1G FILES=20000 BENCH_DIR=/srv/lab-bench
#
# Needs the lab up (bash .ci/setup-lab.sh).  Uses its own directory on the servers
# (BENCH_DIR), drops the page cache between tree runs (affects the whole machine:
# check `uptime` first).  Prints the summary table; raw hyperfine JSON goes to
# /var/lib/migrate-lab/bench/<timestamp>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/lab/env.sh" --check || { echo "lab is not up: run bash .ci/setup-lab.sh" >&2; exit 1; }
METHODS=(f_ssh_s2s f_ssh_s2s_aes f_ssh_relay)
if [[ "${1:-}" == "--tree" ]]; then
  METHODS+=(b_s2s_tar a_relay_tar c_s2s_rsync d0_rsync_nochange d_rsync_1pct e_local_tar e_read_tar)
elif [[ -n "${1:-}" ]]; then
  echo "usage: $0 [--tree]" >&2; exit 2
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
RUNS="${RUNS:-3}" RAW_BYTES="${RAW_BYTES:-1G}" GEN_FILES="${FILES:-20000}" \
  BENCH_DIR="${BENCH_DIR:-/srv/lab-bench}" bash "$ROOT/lab/bench.sh" "${METHODS[@]}"
