#!/usr/bin/env bash
# bench/downtime.sh - the downtime `migrate app` predicts against the one it
# measures, over RUNS lab moves of the Mastodon stand-in
# (examples/lab-mastodon, a from-source install with its own Redis) with
# FILES media files and a PostgreSQL database of at least DB_MB MB.
#
#   DISK=ram RUNS=5 FILES=100000 DB_MB=200 bash bench/downtime.sh
#   DISK=ram RUNS=2 FILES=2000 DB_MB=20 MIGRATE=target/debug/migrate bash bench/downtime.sh  # a quick look
#
# Each run moves the same source into a fresh destination:
#   1. `migrate app --pre-sync-only` (the live bulk copy and a delta pass:
#      the rehearsal the prediction is made from);
#   2. 1 % of the media rewritten and 1 % added (lab/gen-media.py mutate);
#   3. `migrate app --yes` to the end; its report's predicted and measured
#      downtime (from stop-source to the destination's test plan passing).
# The app tree lives on DISK (ram: bench/ramdisk.sh, set up and removed
# here; lab: the lab's loop disks); PostgreSQL's files stay on the lab's
# disk in both modes. Writes bench/results/downtime-DATE-DISK.md with every
# run and the machine, dataset and commit.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=${RUNS:-5}
FILES=${FILES:-100000}
DB_MB=${DB_MB:-200}
DISK=${DISK:-ram}
MIGRATE=${MIGRATE:-$HERE/target/release/migrate}
LAB_RUN=${LAB_RUN:-/run/migrate-lab}
DOMAIN=bench.example.test
PORT=${PORT:-24990}
NAME=bench-downtime
DB=bench_downtime
case $DISK in
  ram) BASE=/srv/bench-ram/downtime; HOST_BASE=$LAB_RUN/bench-ram/src.mnt/downtime ;;
  lab) BASE=/srv/bench-downtime; HOST_BASE=/var/lib/migrate-lab/hosts/src/disk/srv/bench-downtime ;;
  *) echo "DISK must be ram or lab, not '$DISK'" >&2; exit 2 ;;
esac
ROOT=$BASE/live
SOCK=/run/redis-$NAME/redis.sock
EX=$HERE/examples/lab-mastodon
STATE=$(mktemp -d)

ssh src true && ssh dst true || { echo "the lab is not running: bash lab/up.sh" >&2; exit 2; }
[[ -x $MIGRATE ]] || (cd "$HERE" && cargo build --release -p migrate >&2)
cleanup() {
  ssh src "test -f $BASE/app.pid && kill \$(cat $BASE/app.pid) 2>/dev/null; true" || true
  ssh dst "test -f $BASE/app.pid && kill \$(cat $BASE/app.pid) 2>/dev/null; true" || true
  # The trees go first: a ram disk some process still holds cannot be
  # unmounted, but its memory is freed once its files are gone.
  if [[ $DISK == ram ]]; then
    ssh src "rm -rf $BASE" || true
    ssh dst "rm -rf $BASE" || true
    bash "$HERE/bench/ramdisk.sh" off >&2 || echo "warning: the ram disk is still mounted: bash bench/ramdisk.sh status" >&2
  fi
  rm -rf "$STATE"
}
trap cleanup EXIT
if [[ $DISK == ram ]]; then
  bash "$HERE/bench/ramdisk.sh" on $(( FILES * 60 / 1000000 + 4 )) >&2
fi

start_cmd() { echo "cd $ROOT && (runuser -u mastodon -- python3 server.py $1:$PORT >> $BASE/app.log 2>&1 < /dev/null & echo \$! > $BASE/app.pid) && for i in \$(seq 1 100); do curl -s -o /dev/null http://$1:$PORT/ && exit 0; sleep 0.1; done; exit 1"; }
redis_up() { ssh "$1" "redis-cli -s $SOCK ping 2>/dev/null | grep -q PONG || bash -s -- $NAME" < "$EX/redis.sh" >&2; }
ship_app() { tar -C "$EX" -cf - app bundle | ssh "$1" "mkdir -p $BASE && tar -C $BASE -xf - && mkdir -p $BASE/bin && mv -f $BASE/bundle $BASE/bin/bundle"; }

# The source, once: the stand-in install, its media, a database of DB_MB.
if ! ssh src "test -f $BASE/ready-$FILES-$DB_MB"; then
  echo "installing the source: $FILES files, $DB_MB MB of database ..." >&2
  ssh src "test -f $BASE/app.pid && kill \$(cat $BASE/app.pid) 2>/dev/null; rm -rf $BASE; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS $DB' >/dev/null 2>&1; true"
  redis_up src
  ship_app src
  ssh src "REDIS_SOCKET=$SOCK bash -s -- $ROOT $DB $DOMAIN" < "$EX/install-source.sh" >&2
  /usr/bin/python3 "$HERE/lab/gen-media.py" create "$HOST_BASE/live/public/system" --files "$FILES" >&2
  ssh src "cd / && runuser -u postgres -- psql -X -q -d $DB -c \"CREATE TABLE bench_filler (id bigint PRIMARY KEY, payload text); INSERT INTO bench_filler SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text) FROM generate_series(1, $(( DB_MB * 1000000 / 170 ))) g; ALTER TABLE bench_filler OWNER TO mastodon;\"" >&2
  ssh src "touch $BASE/ready-$FILES-$DB_MB"
fi
read -r NF NB < <(ssh src "find $ROOT -type f -printf '%s\n' | awk '{n++; s+=\$1} END {print n, s}'")
DBB=$(ssh src "cd / && runuser -u postgres -- psql -X -Atq -c \"select pg_database_size('$DB')\"")
ids=$(ssh src "id -u mastodon; id -g mastodon" | tr '\n' ' ')
read -r uid gid <<<"$ids"
ssh dst "id mastodon >/dev/null 2>&1 || { groupadd -g $gid mastodon; useradd -r -u $uid -g $gid -m -d /home/mastodon mastodon; }"
COMMIT=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$HERE" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
echo "source: $NF files, $NB bytes; database $DBB bytes; disk=$DISK; commit $COMMIT" >&2

ROWS=""
STEPS=""
for r in $(seq "$RUNS"); do
  # A fresh destination: no tree, no database, an empty Redis.
  ssh dst "test -f $BASE/app.pid && kill \$(cat $BASE/app.pid) 2>/dev/null; rm -rf $BASE; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS $DB' -c 'DROP DATABASE IF EXISTS ${DB}_before_migrate' >/dev/null 2>&1; true"
  # The host's backup step (before the window) writes a full backup on
  # src each run: only the run's own is kept.
  ssh src "rm -rf $BASE/backup-*"
  redis_up dst
  ssh dst "redis-cli -s $SOCK flushall >/dev/null"
  redis_up src
  ship_app dst
  ssh src "curl -s -o /dev/null http://127.0.0.2:$PORT/ || { $(start_cmd 127.0.0.2); }"
  home=$STATE/run$r
  mkdir -p "$home"
  file=$home/migration.toml
  cat > "$file" <<TOML
app = "mastodon"
domain = "$DOMAIN"
backup_dir = "$BASE/backup-$r"
skip_steps = ["maintenance-page", "stop-app", "backup"]

[source]
host = "src"
root = "$ROOT"
http = "127.0.0.2:$PORT"
path = ["$BASE/bin"]
stop = "kill \$(cat $BASE/app.pid) && rm -f $BASE/app.pid"
start = $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$(start_cmd 127.0.0.2)")
databases = { mastodon_production = "$DB" }
service_users = { web = "mastodon", db = "mastodon" }

[destination]
host = "dst"
root = "$ROOT"
http = "127.0.0.3:$PORT"
path = ["$BASE/bin"]
start = $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$(start_cmd 127.0.0.3)")
databases = { mastodon_production = "$DB" }
service_users = { web = "mastodon", db = "mastodon" }
TOML
  export XDG_STATE_HOME=$home/state XDG_CACHE_HOME=$home/cache XDG_DATA_HOME=$home/data
  "$MIGRATE" --quiet app --yes --pre-sync-only --file "$file" >&2
  /usr/bin/python3 "$HERE/lab/gen-media.py" mutate "$HOST_BASE/live/public/system" --seed $((2000 + r)) --percent 1 >&2
  "$MIGRATE" --quiet --json app --yes --file "$file" > "$home/report.json"
  # The report's downtime: predicted and measured on the first line, the
  # predicted steps of 0.05 s or more on the second.
  { read -r pred meas; read -r predicted_steps || true; } < <(/usr/bin/python3 - "$home/report.json" <<'PY'
import json, sys
def find(v):
    if isinstance(v, dict):
        if "downtime_seconds" in v:
            return v["downtime_seconds"]
        for x in v.values():
            f = find(x)
            if f is not None:
                return f
    elif isinstance(v, list):
        for x in v:
            f = find(x)
            if f is not None:
                return f
    return None
d = find(json.load(open(sys.argv[1]))) or {}
print(d.get("predicted") or "nan", d.get("measured") or "nan")
print(", ".join("%s %.1f" % (p["step"], p["seconds"]) for p in d.get("predicted_steps") or [] if p["seconds"] >= 0.05))
PY
)
  # Where the window went: each step's seconds from the journal, in order.
  steps=$(/usr/bin/python3 - "$home" <<'PY'
import glob, json, sys
js = sorted(glob.glob(sys.argv[1] + "/**/journal*.jsonl", recursive=True))
entries = [json.loads(l) for j in js for l in open(j) if l.strip()]
# The window: what starts after the last live pre-sync pass, up to the
# destination's test plan passing.
last = max((i for i, e in enumerate(entries) if e.get("event") == "done" and e.get("step") in ("pre-sync", "pre-sync-delta")), default=-1)
start, out = {}, []
for e in entries[last + 1:]:
    s, ev, t = e.get("step"), e.get("event"), e.get("at_ms", 0)
    if s.startswith("rehearse-"):
        continue
    if ev == "start":
        start[s] = t
    elif ev == "done" and s in start:
        if t - start[s] >= 50:
            out.append("%s %.1f" % (s, (t - start[s]) / 1000))
        if s == "test-destination":
            break
print(", ".join(out))
PY
)
  echo "run $r window: $steps" >&2
  STEPS+="- run $r: measured $steps; predicted $predicted_steps"$'\n'
  err=$(/usr/bin/python3 -c "import sys; p, m = float(sys.argv[1]), float(sys.argv[2]); print('%+.0f %%' % (100 * (p - m) / m))" "$pred" "$meas")
  echo "run $r: predicted $pred s, measured $meas s ($err)" >&2
  ROWS+="| $r | $(printf '%.1f' "$pred") | $(printf '%.1f' "$meas") | $err |"$'\n'
done

OUT=${OUT:-$HERE/bench/results/downtime-$(date +%F)-$DISK.md}
{
  echo "# bench/downtime.sh, $(date -u '+%F %H:%M UTC')"
  echo
  echo "- command: \`DISK=$DISK RUNS=$RUNS FILES=$FILES DB_MB=$DB_MB bash bench/downtime.sh\`"
  echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- app: the Mastodon stand-in, $NF files ($NB bytes) on disk=$DISK, database $DBB bytes on the lab's disk; 1 % of the media rewritten and 1 % added between the live pre-syncs and the move"
  echo "- commit: $COMMIT; migrate: $MIGRATE"
  echo
  echo "| run | predicted s | measured s | prediction error |"
  echo "| --- | --- | --- | --- |"
  printf '%s' "$ROWS"
  echo
  echo "Each window step's seconds, measured (journal start to done, up to test-destination) and predicted (the report's predicted_steps, those of 0.05 s or more):"
  echo
  printf '%s' "$STEPS"
  echo
  echo "Targets: every run within ±20 %, a measured window ≤ 15 s."
} > "$OUT"
cat "$OUT"
echo "written to $OUT" >&2
