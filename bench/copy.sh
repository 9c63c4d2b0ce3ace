#!/usr/bin/env bash
# bench/copy.sh - `migrate copy` against `tar | ssh | tar` and `rsync -a`,
# server to server in the lab (bash lab/up.sh first), interleaved: every
# round runs migrate, tar, rsync, migrate, rsync ... back to back, caches
# dropped before every timed step, so the three tools meet the same disk.
# Prints each round's times and ratios, then the median ratio with its min
# and max, and writes the whole run to bench/results/copy-DATE-DISK-NFILES.md
# (machine, disk mode, dataset, commit, every raw time).
#
#   DISK=ram FILES=100000 bash bench/copy.sh       # the steady disk (bench/ramdisk.sh)
#   bash bench/copy.sh                              # 20,000 files (about 420 MB), 3 rounds
#   ROUNDS=5 STREAMS=4 MIGRATE=target/release/migrate bash bench/copy.sh
# STREAMS=auto (the default) lets migrate choose; its choice per step is in
# the results file.
#   SPREAD=5 DISK=ram bash bench/copy.sh            # first, 5 tar|ssh|tar runs: the disk's own spread
#   DISK=dio bash bench/copy.sh                     # the servers' loop disks in direct I/O
#
# DISK says which disk the dataset and the copies live on:
#   ram       an ext4 image on a tmpfs per server, mounted at /srv/bench-ram
#             (bench/ramdisk.sh, set up and removed by this run): steady,
#             within a few % run to run, what ratios should be read from;
#   buffered  the lab's loop disks (files on the VM's virtual disk) through
#             the host's page cache, which reads ahead in the image for
#             single-threaded walkers; this VM's disk drifts 2-3x in minutes;
#   dio       the same loop disks in direct I/O: every read reaches the
#             virtual disk, as on a server's own disk, and concurrent reads
#             are served concurrently (a cold scan of the 100k-file tree: one
#             find 21 s, 16 walkers 6.7 s; buffered 11.4 s and 9.6 s).
# Compare within one mode.
#
# The tree is lab/gen-media.py's (hash-tree paths, 2-200 KiB incompressible
# files owned by 991:991), kept on src between runs of one disk mode.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=${FILES:-20000}
STREAMS=${STREAMS:-auto}
ROUNDS=${ROUNDS:-${RUNS:-3}}
SPREAD=${SPREAD:-0}
DISK=${DISK:-buffered}
MIGRATE=${MIGRATE:-$HERE/target/release/migrate}
LAB_STATE=${LAB_STATE:-/var/lib/migrate-lab}
LAB_RUN=${LAB_RUN:-/run/migrate-lab}
case $DISK in
  ram) BASE=/srv/bench-ram; HOST_BASE=$LAB_RUN/bench-ram/src.mnt ;;
  dio|buffered) BASE=/srv/bench-copy; HOST_BASE=$LAB_STATE/hosts/src/disk/srv/bench-copy ;;
  *) echo "DISK must be ram, dio or buffered, not '$DISK'" >&2; exit 2 ;;
esac
# One tree per size, so switching FILES does not regenerate the other.
DS=$BASE/n$FILES/media
SRC_DISK=$HOST_BASE/n$FILES
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
STATE=$(mktemp -d)
export XDG_STATE_HOME=$STATE/state XDG_CACHE_HOME=$STATE/cache XDG_DATA_HOME=$STATE/data

ssh src true && ssh dst true || { echo "the lab is not running: bash lab/up.sh" >&2; exit 2; }
if [[ ! -x $MIGRATE ]]; then
  (cd "$HERE" && cargo build --release -p migrate >&2)
fi

LOOPS=()
for h in src dst; do LOOPS+=("$(findmnt -n -o SOURCE "$LAB_STATE/hosts/$h/disk")"); done
set_dio() { local l; for l in "${LOOPS[@]}"; do losetup --direct-io="$1" "$l"; done; }
cleanup() {
  bash "$HERE/lab/shape.sh" off >/dev/null 2>&1 || true
  case $DISK in
    dio) set_dio off ;;
    # KEEP_RAM=1 keeps the ramdisk and its tree for the next run.
    ram) [[ ${KEEP_RAM:-0} == 1 ]] || bash "$HERE/bench/ramdisk.sh" off >/dev/null 2>&1 || true ;;
  esac
  rm -rf "$STATE"
}
trap cleanup EXIT
case $DISK in
  dio) set_dio on ;;
  buffered) set_dio off ;;
  # 100k files are about 2.5 GB: the source tree, then migrate's, tar's and
  # rsync's copies on dst (tar's removed after each round), plus the page
  # cache the ext4 on top keeps until the next drop.
  ram) set_dio off; bash "$HERE/bench/ramdisk.sh" on $(( FILES * 60 / 1000000 + 4 )) >&2 ;;
esac

if [[ "$(cat "$SRC_DISK/files" 2>/dev/null)" != "$FILES" ]]; then
  echo "generating $FILES files on src ..." >&2
  rm -rf "$SRC_DISK" && mkdir -p "$SRC_DISK/media"
  /usr/bin/python3 "$HERE/lab/gen-media.py" create "$SRC_DISK/media" --files "$FILES" >&2
  echo "$FILES" > "$SRC_DISK/files"
fi
read -r NF NB < <(ssh src "find $DS -type f -printf '%s\n' | awk '{n++; s+=\$1} END {print n, s}'")
COMMIT=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HERE" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
MACHINE="$(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
LOAD() { cut -d' ' -f1-3 /proc/loadavg; }
echo "dataset: $NF files, $NB bytes; streams=$STREAMS; disk=$DISK; rounds=$ROUNDS; commit $COMMIT; load: $(LOAD)" >&2

seed=1000
mutate() { seed=$((seed + 1)); /usr/bin/python3 "$HERE/lab/gen-media.py" mutate "$SRC_DISK/media" --seed $seed --percent 1 >/dev/null; }
# Only this bench's own job directories go (tests may run copies meanwhile).
jobdirs() { [[ -f $XDG_STATE_HOME/migrate/copy-jobs.json ]] && /usr/bin/python3 -c 'import json,sys,shlex; print(" ".join(shlex.quote(j["job_dir"]) for j in json.load(open(sys.argv[1]))))' "$XDG_STATE_HOME/migrate/copy-jobs.json"; true; }
# migrate's job id for this pair: sha256("SRC\nDST"), first 6 bytes in hex.
JOB_ID=$(printf '%s\n%s' "src:$DS" "dst:$DS" | sha256sum | cut -c1-12)
clean_dst() { ssh dst "rm -rf $BASE/n$FILES $BASE/tar-n$FILES $BASE/rsync-n$FILES"; local j; j=$(jobdirs); ssh src "rm -rf $j \${XDG_STATE_HOME:-\$HOME/.local/state}/migrate/copy/$JOB_ID"; rm -rf "$XDG_STATE_HOME"; }
drop() { sh -c "$DROP"; }
# time CMD...: seconds on stdout, command output to stderr
t() { local a b; drop; a=$(date +%s.%N); "$@" >&2; b=$(date +%s.%N); echo "$b - $a" | bc; }
# LOG=file keeps migrate's phase timings (RUST_LOG=info) of every run.
mig() {
  local sflag=() rc=0
  [[ $STREAMS == auto ]] || sflag=(--streams "$STREAMS")
  RUST_LOG=${RUST_LOG:-migrate_copy=info} /usr/bin/time -a -o "$STATE/rss" -f "${STEP:-mig} %M" "$MIGRATE" copy "src:$DS" "dst:$DS" "${sflag[@]}" "$@" 2>"$STATE/last.err" || rc=$?
  cat "$STATE/last.err" >>"${LOG:-/dev/stderr}"
  grep -m1 '^streams:' "$STATE/last.err" | sed "s/^/${STEP:-mig} /" >>"$STATE/streams" || true
  (( rc == 0 )) && ssh dst sync
}
# tar and rsync write beside migrate's copy, on the same disk.
TAR_DS=$BASE/tar-n$FILES/media
RSYNC_DS=$BASE/rsync-n$FILES/media
tarpipe() { ssh src "tar -C $DS -cf - . | ssh dst 'mkdir -p $TAR_DS && tar -C $TAR_DS -xf - && sync'"; }
rsyncs2s() { ssh src "rsync -a --mkpath $DS/ dst:$RSYNC_DS/ && ssh dst sync"; }

# The disk's own spread: the same tar|ssh|tar, SPREAD times in a row.
SPREAD_TIMES=""
ONLY_SHAPED=${ONLY_SHAPED:-0}
(( ONLY_SHAPED )) && SPREAD=0
if (( SPREAD > 0 )); then
  for _ in $(seq "$SPREAD"); do
    ssh dst "rm -rf ${TAR_DS%/media}"
    SPREAD_TIMES+=" $(t tarpipe)"
  done
  ssh dst "rm -rf ${TAR_DS%/media}"
fi

STEPS=(mig_full tar_full rsync_full mig_nochange rsync_nochange mig_1pct rsync_1pct mig_final mig_verify mig_verify_sent)
declare -A T
MAIN_ROUNDS=$ROUNDS
(( ONLY_SHAPED )) && MAIN_ROUNDS=0
# SWEEP="auto 2 4 8": only initial copies, one per stream count and one tar,
# interleaved per round, instead of the rounds below.
SWEEP=${SWEEP:-}
if [[ -n $SWEEP ]]; then
  MAIN_ROUNDS=0
  for r in $(seq "$ROUNDS"); do
    for n in $SWEEP; do
      clean_dst; STEP=s$n; T[mig_s$n]+=" $(STREAMS=$n t mig)"
    done
    T[tar_full]+=" $(t tarpipe)"; ssh dst "rm -rf ${TAR_DS%/media}"
    echo "sweep round $r done; load $(LOAD)" >&2
  done
  clean_dst
fi
for r in $(seq "$MAIN_ROUNDS"); do
  clean_dst
  STEP=full; T[mig_full]+=" $(t mig)"
  T[tar_full]+=" $(t tarpipe)"; ssh dst "rm -rf ${TAR_DS%/media}"
  T[rsync_full]+=" $(t rsyncs2s)"
  STEP=nochange; T[mig_nochange]+=" $(t mig --final)"
  T[rsync_nochange]+=" $(t rsyncs2s)"
  STEP=1pct; mutate; T[mig_1pct]+=" $(t mig --final)"
  T[rsync_1pct]+=" $(t rsyncs2s)"
  # The same change twice more: once without verification, once with it,
  # so the two final passes differ only by --verify.
  STEP=final; mutate; T[mig_final]+=" $(t mig --final)"
  STEP=verify; mutate; T[mig_verify]+=" $(t mig --final --verify)"
  # What `migrate app` runs in its window: only what the pass sent hashed.
  STEP=verify_sent; mutate; T[mig_verify_sent]+=" $(t mig --final --verify-sent)"
  echo "round $r done; load $(LOAD)" >&2
done
clean_dst

# Shaped links between src and dst (lab/shape.sh: HTB rate on an ifb fed from
# lo's ingress, NFQUEUE delay; one-way delay = RTT/2). Initial copy only,
# migrate vs one tar stream, interleaved as above.
declare -A CEIL
SHAPED_KEYS=""
if [[ ${SHAPED:-0} == 1 ]]; then
  # The same copy unshaped first, on the same disk: what "90 % of the
  # unshaped speed" is measured against.
  # LINKS picks among the shaped links ("RATE ONE-WAY-DELAY", comma-separated),
  # e.g. LINKS="1gbit 25ms" for a 100k-file tree without the 100 Mbit rounds.
  IFS=, read -r -a links <<<"unshaped -,${LINKS:-100mbit 10ms,1gbit 25ms}"
  for link in "${links[@]}"; do
    set -- $link
    if [[ $1 == unshaped ]]; then
      k=unshaped
    else
      bash "$HERE/lab/shape.sh" on --rate "$1" --delay "$2" --link s2s >&2
      k=${1}_rtt$(( ${2%ms} * 2 ))ms
    fi
    # The link's own ceiling: 200 MiB of zeros over 1 and over 4 ssh streams.
    for n in 1 4; do
      s=$(date +%s.%N)
      ssh src "for i in \$(seq $n); do head -c \$((200 / $n))M /dev/zero | ssh dst 'cat > /dev/null' & done; wait"
      CEIL[${k}_$n]=$(echo "scale=1; 200 * 1.048576 / ($(date +%s.%N) - $s)" | bc)
    done
    for r in $(seq "$ROUNDS"); do
      STEP=$k; clean_dst; T[mig_$k]+=" $(t mig)"
      T[tar_$k]+=" $(t tarpipe)"; ssh dst "rm -rf ${TAR_DS%/media}"
    done
    bash "$HERE/lab/shape.sh" off >&2
    SHAPED_KEYS+=" $k"
  done
  clean_dst
fi

nth() { awk -v i="$2" '{print $i}' <<<"$1"; }
# med/min/max of a list of numbers
stats() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f %.2f %.2f\n", m, a[1], a[NR]}'; }
# per-round ratios OTHER/MIGRATE as a list
ratios() { local out="" i; for i in $(seq "$3"); do out+=" $(printf '%.2f' "$(echo "scale=4; $(nth "${T[$2]}" "$i") / $(nth "${T[$1]}" "$i")" | bc)")"; done; echo "$out"; }

SUFFIX=""
[[ -n $SWEEP ]] && SUFFIX=-sweep
(( ONLY_SHAPED )) && SUFFIX=-shaped
OUT=${OUT:-$HERE/bench/results/copy-$(date +%F)-$DISK-n$FILES$SUFFIX.md}
{
  echo "# bench/copy.sh, $(date -u '+%F %H:%M UTC')"
  echo
  echo "- command: \`DISK=$DISK FILES=$FILES ROUNDS=$ROUNDS STREAMS=$STREAMS SPREAD=$SPREAD SHAPED=${SHAPED:-0} ONLY_SHAPED=$ONLY_SHAPED LINKS=\"${LINKS:-100mbit 10ms,1gbit 25ms}\" SWEEP=\"$SWEEP\" KEEP_RAM=${KEEP_RAM:-0} bash bench/copy.sh\`"
  echo "- machine: $MACHINE; load at the end: $(LOAD)"
  echo "- disk: $DISK"
  echo "- dataset: $NF files, $NB bytes (lab/gen-media.py, $FILES requested); each later pass: 1 % of the files rewritten and 1 % added"
  echo "- commit: $COMMIT; migrate: $MIGRATE"
  echo
  if [[ -n $SPREAD_TIMES ]]; then
    read -r m lo hi < <(stats "$SPREAD_TIMES")
    echo "## The disk's spread: $SPREAD runs of tar | ssh | tar"
    echo
    echo "times (s):$SPREAD_TIMES"
    echo
    echo "median $m s, min $lo s, max $hi s: $(echo "scale=1; 100 * ($lo - $m) / $m" | bc) % / +$(echo "scale=1; 100 * ($hi - $m) / $m" | bc) % around the median"
    echo
  fi
  echo "## Raw times (s), one column per round"
  echo
  echo '```'
  printf '%-24s %s\n' step "rounds 1..$ROUNDS"
  (( ONLY_SHAPED )) || [[ -n $SWEEP ]] || for k in "${STEPS[@]}"; do printf '%-24s %s\n' "$k" "${T[$k]}"; done
  if [[ -n $SWEEP ]]; then
    for n in $SWEEP; do printf '%-24s %s\n' "mig_s$n" "${T[mig_s$n]}"; done
    printf '%-24s %s\n' tar_full "${T[tar_full]}"
  fi
  for k in $SHAPED_KEYS; do
    printf '%-24s %s\n' "mig_$k" "${T[mig_$k]}"
    printf '%-24s %s\n' "tar_$k" "${T[tar_$k]}"
  done
  echo '```'
  echo
  echo "## Ratios (the other tool's time / migrate's time: above 1 means migrate is faster)"
  echo
  echo "| measure | per round | median | min | max | target |"
  echo "| --- | --- | --- | --- | --- | --- |"
  row() { local rs; rs=$(ratios "$1" "$2" "$ROUNDS"); read -r m lo hi < <(stats "$rs"); echo "| $3 |$rs | $m | $lo | $hi | $4 |"; }
  for n in $SWEEP; do row "mig_s$n" tar_full "initial copy, streams $n, vs tar \| ssh \| tar" ""; done
  if (( ! ONLY_SHAPED )) && [[ -z $SWEEP ]]; then
    row mig_full tar_full "initial copy vs tar \| ssh \| tar" "≥ 1.1"
    row mig_full rsync_full "initial copy vs rsync -a" "≥ 1.4"
    row mig_nochange rsync_nochange "final pass, nothing changed, vs rsync -a" ""
    row mig_1pct rsync_1pct "final pass, 1 % changed + 1 % added, vs rsync -a" "≥ 2"
    row mig_verify mig_final "final pass without --verify / with it" ""
    row mig_verify_sent mig_final "final pass without verification / with --verify-sent" "≥ 0.87 (verify within 1.15×)"
  fi
  for k in $SHAPED_KEYS; do row "mig_$k" "tar_$k" "initial copy over $k vs one tar stream" "≥ 2 at 1gbit_rtt50ms"; done
  for k in $SHAPED_KEYS; do [[ $k == unshaped ]] || row "mig_$k" mig_unshaped "migrate unshaped / over $k (its speed there as a share of unshaped)" "≥ 0.90 at 1gbit_rtt50ms"; done
  echo
  for k in $SHAPED_KEYS; do
    [[ $k == unshaped ]] && continue
    rate=${k%%_*}; case $rate in *gbit) link=$(( ${rate%gbit} * 125 ));; *mbit) link=$(echo "scale=2; ${rate%mbit} / 8" | bc);; esac
    read -r m _ _ < <(stats "${T[mig_$k]}")
    mbs=$(echo "scale=1; $NB / $m / 1000000" | bc)
    echo "- over $k: migrate moved $mbs MB/s (median) = $(echo "scale=0; 100 * $mbs / $link" | bc) % of the $link MB/s link; raw ssh ceiling ${CEIL[${k}_1]} MB/s with 1 stream, ${CEIL[${k}_4]} MB/s with 4"
  done
  echo "- streams migrate chose, per step: $(sort -u -k1,1 "$STATE/streams" 2>/dev/null | tr '\n' ';')"
  echo "- operator peak RSS of migrate (KiB), per step: $(sort -k2 -n "$STATE/rss" | awk '{m[$1]=$2} END {for (k in m) printf "%s %s  ", k, m[k]}')"
} > "$OUT"
cat "$OUT"
echo "written to $OUT" >&2
