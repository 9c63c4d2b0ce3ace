#!/usr/bin/env bash
# bench/profile-copy.sh - where the CPU goes in one initial copy of the
# bench tree: `migrate copy` and `tar | ssh | tar`, each under a
# system-wide `perf record` (all lab servers share this kernel), reported
# as CPU seconds per command and, for the top commands, per kernel or user
# symbol. Run after `KEEP_RAM=1 DISK=ram FILES=N bash bench/copy.sh ...`
# has left the tree on the ram disk.
#
#   FILES=100000 bash bench/profile-copy.sh
#
# Writes bench/results/profile-copy-DATE-nFILES.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${FILES:-100000}
MIGRATE=${MIGRATE:-$HERE/target/release/migrate}
BASE=/srv/bench-ram
DS=$BASE/n$FILES/media
OUT=${OUT:-$HERE/bench/results/profile-copy-$(date +%F)-n$FILES.md}
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT
export XDG_STATE_HOME=$STATE/state XDG_CACHE_HOME=$STATE/cache XDG_DATA_HOME=$STATE/data

command -v perf >/dev/null || { echo "perf is needed (Debian: linux-perf)" >&2; exit 2; }
ssh src "test -d $DS" || { echo "no tree at src:$DS: run KEEP_RAM=1 DISK=ram FILES=$FILES bash bench/copy.sh first" >&2; exit 2; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
clean() { ssh dst "rm -rf $BASE/prof-mig $BASE/prof-tar"; rm -rf "$XDG_STATE_HOME"; ssh src 'rm -rf ${XDG_STATE_HOME:-$HOME/.local/state}/migrate/copy/*' ; }

# perf record -a around CMD; prints wall seconds, leaves perf data in $1.
profiled() {
  local data=$1; shift
  drop
  local a b
  a=$(date +%s.%N)
  perf record -q -a -F 499 -g -o "$data" -- bash -c "$*" >/dev/null 2>"$STATE/perf.err"
  b=$(date +%s.%N)
  echo "$b - $a" | bc
}

# CPU seconds per command: its samples / the sampling rate (swapper is idle).
per_comm() {
  local n; n=$(perf script -i "$1" -F comm 2>/dev/null | wc -l)
  perf report -i "$1" --no-children --sort comm --stdio -q 2>/dev/null \
    | awk -v hz=499 -v n="$n" 'NF >= 2 && $1 ~ /%$/ { p = $1; sub(/%/, "", p); printf "| %s | %.1f %% | %.1f |\n", $2, p, p / 100 * n / hz }' | head -n 12
}
per_sym() {
  perf report -i "$1" --no-children --sort comm,dso,sym --stdio -q 2>/dev/null \
    | awk 'NF >= 4 && $1 ~ /%$/ { $1 = $1; print "| " $0 " |" }' | head -n 20
}

clean
mig_s=$(profiled "$STATE/mig.data" "$MIGRATE copy src:$DS dst:$BASE/prof-mig/media >/dev/null 2>&1")
tar_s=$(profiled "$STATE/tar.data" "ssh src \"tar -C $DS -cf - . | ssh dst 'mkdir -p $BASE/prof-tar/media && tar -C $BASE/prof-tar/media -xf -'\"")
COMMIT=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# bench/profile-copy.sh, $(date -u '+%F %H:%M UTC')"
  echo
  echo "- command: \`FILES=$FILES bash bench/profile-copy.sh\` (perf record -a -F 499 -g; every lab server shares this kernel)"
  echo "- machine: $(nproc) CPUs, kernel $(uname -r); commit $COMMIT; migrate: $MIGRATE"
  echo "- tree: src:$DS on the ram disk"
  echo
  echo "## migrate copy: $mig_s s"
  echo
  echo "| command | share of samples | CPU s |"
  echo "| --- | --- | --- |"
  per_comm "$STATE/mig.data"
  echo
  echo "Top symbols:"
  echo
  per_sym "$STATE/mig.data"
  echo
  echo "## tar | ssh | tar: $tar_s s"
  echo
  echo "| command | share of samples | CPU s |"
  echo "| --- | --- | --- |"
  per_comm "$STATE/tar.data"
  echo
  echo "Top symbols:"
  echo
  per_sym "$STATE/tar.data"
} > "$OUT"
clean
cat "$OUT"
echo "written to $OUT" >&2
