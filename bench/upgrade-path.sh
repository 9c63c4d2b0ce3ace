#!/usr/bin/env bash
# Cold and warm wall time of `migrate upgrade-path`, end to end (process
# start, plugin load, the call, output). Cold = empty compile cache (every
# run pays the Cranelift compile); warm = cache filled. Target: warm < 20 ms.
#
#   bench/upgrade-path.sh            release build, 30 runs each
#   RUNS=100 PROFILE=debug bench/upgrade-path.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-30}"
PROFILE="${PROFILE:-release}"
TARGET="${CARGO_TARGET_DIR:-target}"

if [ "$PROFILE" = release ]; then
    cargo build --release -p migrate >&2
    BIN="$TARGET/release/migrate"
else
    cargo build -p migrate >&2
    BIN="$TARGET/debug/migrate"
fi

home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
export XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data"

CASES=(
    "nextcloud 25.0.13 28.0.4"
    "mastodon 4.1.0 4.3.0"
    "discourse 3.1.0.beta6 3.2.0"
    "mailu 1.9 2024.06"
)

# Milliseconds per run, median of RUNS, with a command run before each.
measure() { # prepare-cmd, args...
    local prepare="$1"; shift
    local times=()
    for _ in $(seq "$RUNS"); do
        eval "$prepare"
        local t0 t1
        t0=$(date +%s%N)
        "$BIN" upgrade-path "$@" >/dev/null || [ $? -eq 3 ]
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

printf '%-36s %10s %10s %8s\n' "case ($PROFILE, median of $RUNS)" "cold ms" "warm ms" "ratio"
for c in "${CASES[@]}"; do
    # shellcheck disable=SC2086
    cold=$(measure 'rm -rf "$XDG_CACHE_HOME"' $c)
    # shellcheck disable=SC2086
    "$BIN" upgrade-path $c >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    warm=$(measure ':' $c)
    ratio=$(awk -v c="$cold" -v w="$warm" 'BEGIN {printf "%.1fx", c / w}')
    printf '%-36s %10s %10s %8s\n' "$c" "$cold" "$warm" "$ratio"
done
echo "target: warm under 20 ms end to end"
