#!/bin/bash
# Demo: move a realistic Nextcloud from the lab's src to dst with `migrate app`
# and print the report. Needs the lab (bash .ci/setup-lab.sh) and a built
# `migrate` (cargo build -p migrate). Everything lives under /srv/test-app-demo
# on both servers and the database test_app_demo; `demo.sh --clean` removes them.
#
#   bash examples/lab-nextcloud/demo.sh          # plan (runbook), migrate, report
#   bash examples/lab-nextcloud/demo.sh --clean
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
migrate=${MIGRATE:-$repo/target/debug/migrate}
base=/srv/test-app-demo root=/srv/test-app-demo/nextcloud db=test_app_demo port=18080
domain=cloud.example.test
state=${DEMO_STATE:-/tmp/migrate-demo}

clean() {
  for h in src dst; do
    ssh "$h" "test -f $base/app.pid && kill \$(cat $base/app.pid) 2>/dev/null; rm -rf $base $base.before-*; cd / && runuser -u postgres -- psql -X -q -c 'DROP DATABASE IF EXISTS \"$db\"' -c 'DROP DATABASE IF EXISTS \"${db}_before_migrate\"' -c 'DROP ROLE IF EXISTS \"nc_$db\"' >/dev/null 2>&1; true"
  done
  rm -rf "$state"
}
if [[ ${1:-} == --clean ]]; then clean; echo "demo removed"; exit 0; fi
"$repo/lab/env.sh" --check || { echo "the lab is not up: bash .ci/setup-lab.sh" >&2; exit 1; }
[[ -x $migrate ]] || (cd "$repo" && cargo build -p migrate)
clean
for h in src dst; do
  tar -C "$here" -cf - app php | ssh "$h" "mkdir -p $base/bin && tar -C $base -xf - && mv -f $base/php $base/bin/php"
done
ssh src bash -s -- "$root" "$db" "$domain" < "$here/install-source.sh"
start() { echo "cd $root && (python3 status.py $1:$port >> $base/app.log 2>&1 < /dev/null & echo \$! > $base/app.pid) && for i in \$(seq 1 100); do curl -s -o /dev/null http://$1:$port/ && exit 0; sleep 0.1; done; exit 1"; }
ssh src "$(start 127.0.0.2)"
mkdir -p "$state"
cat > "$state/migration.toml" <<TOML
app = "nextcloud"
domain = "$domain"
backup_dir = "$base/backup"
skip_steps = ["nextcloud-wait-for-sync-clients", "nextcloud-stop-web"]

[source]
host = "${LAB_SRC_URL:-src}"
root = "$root"
http = "127.0.0.2:$port"
path = ["$base/bin"]
stop = "kill \$(cat $base/app.pid) && rm -f $base/app.pid"
start = "$(start 127.0.0.2 | sed 's/"/\\"/g')"
databases = { nextcloud = "$db" }

[destination]
host = "${LAB_DST_URL:-dst}"
root = "$root"
http = "127.0.0.3:$port"
path = ["$base/bin"]
start = "$(start 127.0.0.3 | sed 's/"/\\"/g')"
databases = { nextcloud = "$db" }
TOML
export XDG_DATA_HOME=$state/data
echo "== migrate plan --format markdown --file $state/migration.toml"
"$migrate" plan --format markdown --file "$state/migration.toml"
echo "== migrate app --yes --file $state/migration.toml"
"$migrate" app --yes --file "$state/migration.toml"
