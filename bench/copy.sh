#!/usr/bin/env bash
# bench/copy.sh - `migrate copy` against `tar | ssh | tar` and `rsync -a`,
# server to server in the lab (bash lab/up.sh first), in one run, caches
# dropped before every timed step. Prints times and ratios.
#
#   bash bench/copy.sh                 # 20,000 files (about 420 MB)
#   FILES=100000 bash bench/copy.sh    # the full Mastodon-like set (about 2 GB)
#   STREAMS=4 RUNS=1 MIGRATE=target/release/migrate bash bench/copy.sh
#   DISK=dio bash bench/copy.sh        # the servers' loop disks in direct I/O
#
# DISK=dio switches both servers' loop disks to direct I/O for the run (and
# back after). By default (buffered) a loop disk reads its image file through
# the host's page cache, which reads ahead in the image and serves one read
# at a time: a single-threaded walk gets the read-ahead for free and parallel
# walkers gain little. In direct I/O every read reaches the virtual disk, as
# on a server's own disk, and concurrent reads are served concurrently (a
# cold scan of the 100k-file tree: one find 21 s, 16 walkers 6.7 s; buffered
# 11.4 s and 9.6 s). Compare within one mode.
#
# The tree is lab/gen-media.py's (hash-tree paths, 2-200 KiB incompressible
# files owned by 991:991), kept in /srv/bench-copy on src between runs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${FILES:-20000}
STREAMS=${STREAMS:-4}
RUNS=${RUNS:-1}
MIGRATE=${MIGRATE:-$HERE/target/release/migrate}
LAB_STATE=${LAB_STATE:-/var/lib/migrate-lab}
BASE=/srv/bench-copy
# One tree per size, so switching FILES does not regenerate the other.
DS=$BASE/n$FILES/media
SRC_DISK=$LAB_STATE/hosts/src/disk/srv/${BASE#/srv/}/n$FILES
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT
export XDG_STATE_HOME=$STATE/state XDG_CACHE_HOME=$STATE/cache XDG_DATA_HOME=$STATE/data

ssh src true && ssh dst true || { echo "the lab is not running: bash lab/up.sh" >&2; exit 2; }
if [[ ! -x $MIGRATE ]]; then
  (cd "$HERE" && cargo build --release -p migrate >&2)
fi

if [[ "$(cat "$SRC_DISK/files" 2>/dev/null)" != "$FILES" ]]; then
  echo "generating $FILES files on src ..." >&2
  rm -rf "$SRC_DISK" && mkdir -p "$SRC_DISK/media"
  /usr/bin/python3 "$HERE/lab/gen-media.py" create "$SRC_DISK/media" --files "$FILES" >&2
  echo "$FILES" > "$SRC_DISK/files"
fi
DISK=${DISK:-buffered}
LOOPS=()
for h in src dst; do LOOPS+=("$(findmnt -n -o SOURCE "$LAB_STATE/hosts/$h/disk")"); done
set_dio() { local l; for l in "${LOOPS[@]}"; do losetup --direct-io="$1" "$l"; done; }
case $DISK in
  dio) set_dio on; trap 'set_dio off; rm -rf "$STATE"' EXIT ;;
  buffered) set_dio off ;;
  *) echo "DISK must be dio or buffered, not '$DISK'" >&2; exit 2 ;;
esac
read -r NF NB < <(ssh src "find $DS -type f -printf '%s\n' | awk '{n++; s+=\$1} END {print n, s}'")
echo "dataset: $NF files, $NB bytes; streams=$STREAMS; disks=$DISK; load: $(cut -d' ' -f1-3 /proc/loadavg)"

seed=1000
mutate() { seed=$((seed + 1)); /usr/bin/python3 "$HERE/lab/gen-media.py" mutate "$SRC_DISK/media" --seed $seed --percent 1 >/dev/null; }
# Only this bench's own job directories go (tests may run copies meanwhile).
jobdirs() { [[ -f $XDG_STATE_HOME/migrate/copy-jobs.json ]] && /usr/bin/python3 -c 'import json,sys,shlex; print(" ".join(shlex.quote(j["job_dir"]) for j in json.load(open(sys.argv[1]))))' "$XDG_STATE_HOME/migrate/copy-jobs.json"; true; }
# migrate's job id for this pair: sha256("SRC\nDST"), first 6 bytes in hex.
JOB_ID=$(printf '%s\n%s' "src:$DS" "dst:$DS" | sha256sum | cut -c1-12)
clean_dst() { ssh dst "rm -rf $BASE"; local j; j=$(jobdirs); ssh src "rm -rf $j \${XDG_STATE_HOME:-\$HOME/.local/state}/migrate/copy/$JOB_ID"; rm -rf "$XDG_STATE_HOME"; }
drop() { sh -c "$DROP"; }
# time CMD...: seconds on stdout, command output to stderr
t() { local a b; drop; a=$(date +%s.%N); "$@" >&2; b=$(date +%s.%N); echo "$b - $a" | bc; }
# LOG=file keeps migrate's phase timings (RUST_LOG=info) of every run.
mig() { RUST_LOG=${RUST_LOG:-migrate_copy=info} /usr/bin/time -a -o "$STATE/rss" -f "${STEP:-mig} %M" "$MIGRATE" copy "src:$DS" "dst:$DS" --streams "$STREAMS" "$@" 2>>"${LOG:-/dev/stderr}" && ssh dst sync; }
# tar and rsync write beside migrate's copy, so that each tool's step runs
# right after the others' (this machine's disk drifts by 2-3x within an
# hour: steps minutes apart are not comparable).
TAR_DS=$BASE/tar-n$FILES/media
RSYNC_DS=$BASE/rsync-n$FILES/media
tarpipe() { ssh src "tar -C $DS -cf - . | ssh dst 'mkdir -p $TAR_DS && tar -C $TAR_DS -xf - && sync'"; }
rsyncs2s() { ssh src "rsync -a --mkpath $DS/ dst:$RSYNC_DS/ && ssh dst sync"; }

declare -A T CEIL
for r in $(seq "$RUNS"); do
  clean_dst
  STEP=full; T[mig_full]+=" $(t mig)"
  T[tar_full]+=" $(t tarpipe)"; ssh dst "rm -rf ${TAR_DS%/media}"
  T[rsync_full]+=" $(t rsyncs2s)"
  STEP=nochange; T[mig_nochange]+=" $(t mig --final)"
  T[rsync_nochange]+=" $(t rsyncs2s)"
  STEP=1pct; mutate; T[mig_1pct]+=" $(t mig --final)"
  T[rsync_1pct]+=" $(t rsyncs2s)"
  STEP=verify; T[mig_verify]+=" $(t mig --final --verify)"
done
clean_dst

# Shaped links between src and dst (lab/shape.sh: HTB rate on an ifb fed from
# lo's ingress, NFQUEUE delay; one-way delay = RTT/2). Initial copy only,
# migrate vs one tar stream.
if [[ ${SHAPED:-0} == 1 ]]; then
  trap 'bash "$HERE/lab/shape.sh" off >/dev/null 2>&1 || true; [[ $DISK == dio ]] && set_dio off; rm -rf "$STATE"' EXIT
  for link in "100mbit 10ms" "1gbit 25ms"; do
    set -- $link
    bash "$HERE/lab/shape.sh" on --rate "$1" --delay "$2" --link s2s >&2
    k=${1}_rtt$(( ${2%ms} * 2 ))ms
    # The link's own ceiling: 200 MiB of zeros over 1 and over 4 ssh streams.
    for n in 1 4; do
      s=$(date +%s.%N)
      ssh src "for i in \$(seq $n); do head -c \$((200 / $n))M /dev/zero | ssh dst 'cat > /dev/null' & done; wait"
      CEIL[${k}_$n]=$(echo "scale=1; 200 * 1.048576 / ($(date +%s.%N) - $s)" | bc)
    done
    STEP=$k; clean_dst; T[mig_$k]+=" $(t mig)"
    T[tar_$k]+=" $(t tarpipe)"
    bash "$HERE/lab/shape.sh" off >&2
    SHAPED_KEYS+=" $k"
  done
  clean_dst
fi

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\n%-16s %9s   %s\n' step median_s runs
for k in mig_full tar_full rsync_full mig_nochange rsync_nochange mig_1pct rsync_1pct mig_verify; do
  printf '%-16s %9.1f  %s\n' "$k" "$(med "${T[$k]}")" "${T[$k]}"
done
for k in ${SHAPED_KEYS:-}; do
  printf '%-16s %9.1f  %s\n' "mig_$k" "$(med "${T[mig_$k]}")" "${T[mig_$k]}"
  printf '%-16s %9.1f  %s\n' "tar_$k" "$(med "${T[tar_$k]}")" "${T[tar_$k]}"
done
r() { echo "scale=2; $(med "${T[$2]}") / $(med "${T[$1]}")" | bc; }
echo
echo "initial copy: migrate is $(r mig_full tar_full)x tar|ssh|tar, $(r mig_full rsync_full)x rsync -a   (targets 1.1x, 1.4x)"
echo "no-change final: migrate is $(r mig_nochange rsync_nochange)x rsync -a"
echo "1% changed final: migrate is $(r mig_1pct rsync_1pct)x rsync -a   (target 2x)"
for k in ${SHAPED_KEYS:-}; do
  rate=${k%%_*}; case $rate in *gbit) link=$(( ${rate%gbit} * 125 ));; *mbit) link=$(echo "scale=2; ${rate%mbit} / 8" | bc);; esac
  mbs=$(echo "scale=1; $NB / $(med "${T[mig_$k]}") / 1000000" | bc)
  echo "initial copy over $k: migrate is $(r mig_$k tar_$k)x tar|ssh|tar, $mbs MB/s = $(echo "scale=0; 100 * $mbs / $link" | bc)% of the $link MB/s link (raw ssh ceiling: ${CEIL[${k}_1]} MB/s with 1 stream, ${CEIL[${k}_4]} MB/s with 4)"
done
echo "(ratios are speedups: the other tool's time / migrate's time)"
echo "operator peak RSS of migrate (KiB): $(sort -k2 -n "$STATE/rss" | awk '{m[$1]=$2} END {for (k in m) printf "%s %s  ", k, m[k]}')"
