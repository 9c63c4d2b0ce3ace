#!/usr/bin/env bash
# bench/docker-volume.sh - `migrate volume src:V dst` against the usual manual
# moves of a named volume, server to server in the lab (bash lab/up.sh first),
# in one run, caches dropped before every timed step. Prints times and ratios.
#
#   bash bench/docker-volume.sh                  # 5,000 files (about 100 MB)
#   FILES=20000 MIGRATE=target/release/migrate bash bench/docker-volume.sh
#
# Baselines: tar of the volume's mountpoint piped over ssh into the new
# volume's mountpoint (what mailcow's and Co-op Cloud's docs amount to), and
# rsync -a --numeric-ids of the same paths. migrate also creates the volume
# and verifies every file by sha256 on both servers; the baselines do not.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${FILES:-5000}
STREAMS=${STREAMS:-4}
MIGRATE=${MIGRATE:-$HERE/target/debug/migrate}
LAB_STATE=${LAB_STATE:-/var/lib/migrate-lab}
V=mt-bench-vol
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"; ssh dst "docker volume rm -f $V >/dev/null 2>&1" || true' EXIT
export XDG_STATE_HOME=$STATE/state XDG_CACHE_HOME=$STATE/cache XDG_DATA_HOME=$STATE/data

ssh src true && ssh dst true || { echo "the lab is not running: bash lab/up.sh" >&2; exit 2; }
[[ -x $MIGRATE ]] || (cd "$HERE" && cargo build -p migrate >&2)

ssh src "docker volume inspect $V >/dev/null 2>&1 || docker volume create $V >/dev/null"
SMP=$(ssh src "docker volume inspect -f '{{.Mountpoint}}' $V")
# The server's /var/lib/docker is the 'docker' directory of its disk.
OP_PATH=$LAB_STATE/hosts/src/disk/docker/${SMP#/var/lib/docker/}
if [[ "$(cat "$OP_PATH/.files" 2>/dev/null)" != "$FILES" ]]; then
  echo "generating $FILES files in volume $V on src ..." >&2
  find "$OP_PATH" -mindepth 1 -delete
  /usr/bin/python3 "$HERE/lab/gen-media.py" create "$OP_PATH" --files "$FILES" >&2
  echo "$FILES" > "$OP_PATH/.files"
fi
read -r NF NB < <(ssh src "find $SMP -type f -printf '%s\n' | awk '{n++; s+=\$1} END {print n, s}'")
echo "volume $V: $NF files, $NB bytes; streams=$STREAMS; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# migrate volume never trusts an earlier pass's manifest (it copies with
# --force semantics into a volume it checked), so no job state is removed:
# other copies' jobs on src stay untouched.
fresh() { ssh dst "docker volume rm -f $V >/dev/null 2>&1; docker volume create $V >/dev/null"; }
gone() { ssh dst "docker volume rm -f $V >/dev/null 2>&1 || true"; }
t() { local a b; sh -c "$DROP"; a=$(date +%s.%N); "$@" >&2; b=$(date +%s.%N); echo "$b - $a" | bc; }
mig() { "$MIGRATE" volume "src:$V" dst --streams "$STREAMS" && ssh dst sync; }
DMP() { ssh dst "docker volume inspect -f '{{.Mountpoint}}' $V"; }
tarpipe() { local d; d=$(DMP); ssh src "tar -C $SMP --numeric-owner -cf - . | ssh dst 'tar -C $d --numeric-owner -xf - && sync'"; }
rsyncs2s() { local d; d=$(DMP); ssh src "rsync -a --numeric-ids $SMP/ dst:$d/ && ssh dst sync"; }

gone;  T_MIG=$(t mig)
fresh; T_TAR=$(t tarpipe)
fresh; T_RSYNC=$(t rsyncs2s)
gone

printf '\n%-28s %8s\n' step seconds
printf '%-28s %8.1f\n' "migrate volume (+verify)" "$T_MIG" "tar | ssh | tar" "$T_TAR" "rsync -a --numeric-ids" "$T_RSYNC"
r() { echo "scale=2; $2 / $1" | bc; }
echo
echo "migrate volume (create + copy + sha256 verify) is $(r "$T_MIG" "$T_TAR")x tar|ssh|tar and $(r "$T_MIG" "$T_RSYNC")x rsync -a (speedups: other time / migrate time)"
