#!/bin/bash
# DNS test servers for migrate-dns (issue 4). Idempotent; run as root with CI=true.
#   bash .ci/setup-dns.sh          install packages, start the shared lab servers
#   bash .ci/setup-dns.sh stop     stop the lab servers this script started (by PID file)
#
# The tests in tests/it/dns_*.rs start their own knotd / pdns_server instances in
# temp dirs (one zone per test, free loopback ports), so they only need the
# binaries. The shared lab below is for trying `migrate dns` by hand:
#   Knot primary   127.0.0.1:5353  (zone example.test, TSIG key migrate-key.)
#   Knot secondary 127.0.0.2:5353  (follows the primary by NOTIFY/IXFR)
#   PowerDNS       127.0.0.1:5300 (DNS), API http://127.0.0.1:8081, key in $LAB/pdns/api-key
# The TSIG secret and API key are generated per machine into $LAB (mode 600).
set -euo pipefail
LAB=${MIGRATE_DNS_LAB:-/tmp/migrate-dns-lab}

stop() {
  for f in "$LAB"/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    rm -f "$f"
  done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

need=()
for bin in knotd:knot kdig:knot-dnsutils pdns_server:pdns-server sqlite3:sqlite3 dig:bind9-dnsutils; do
  command -v "${bin%%:*}" >/dev/null 2>&1 || need+=("${bin##*:}")
done
[ -e /usr/lib/x86_64-linux-gnu/pdns/libgsqlite3backend.so ] || ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends knot knot-dnsutils bind9-dnsutils pdns-server pdns-backend-sqlite3 sqlite3
fi

running() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }
mkdir -p "$LAB"; chmod 700 "$LAB"
P=$LAB/knot-primary; S=$LAB/knot-secondary; D=$LAB/pdns
if [ ! -f "$LAB/tsig.secret" ]; then
  head -c 32 /dev/urandom | base64 > "$LAB/tsig.secret"; chmod 600 "$LAB/tsig.secret"
fi
SECRET=$(cat "$LAB/tsig.secret")
# The key file `migrate dns --tsig-key-file` reads (nsupdate -y style, one line).
printf 'hmac-sha256:migrate-key.:%s\n' "$SECRET" > "$LAB/tsig.key"; chmod 600 "$LAB/tsig.key"

if ! running "$P"; then
  rm -rf "$P" "$S"; mkdir -p "$P"/{run,db,zones} "$S"/{run,db,zones}
  cat > "$P/knot.conf" <<CONF
server:
    rundir: "$P/run"
    listen: [ 127.0.0.1@5353 ]
control:
    listen: "$P/run/knot.sock"
log:
  - target: stderr
    any: info
database:
    storage: "$P/db"
key:
  - id: migrate-key.
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: ddns
    address: 127.0.0.0/8
    key: migrate-key.
    action: [ update, transfer ]
remote:
  - id: secondary
    address: 127.0.0.2@5353
    key: migrate-key.
template:
  - id: default
    storage: "$P/zones"
    file: "%s.zone"
    zonefile-sync: 0
    serial-policy: increment
    journal-content: changes
zone:
  - domain: example.test
    notify: secondary
    acl: ddns
CONF
  cat > "$P/zones/example.test.zone" <<'ZONE'
$ORIGIN example.test.
$TTL 3600
@       3600  IN SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300
@       3600  IN NS    ns1.example.test.
@       3600  IN NS    ns2.example.test.
ns1     3600  IN A     127.0.0.1
ns2     3600  IN A     127.0.0.2
@       3600  IN A     192.0.2.10
@       3600  IN AAAA  2001:db8::10
www     3600  IN CNAME example.test.
cloud   3600  IN A     192.0.2.10
mail    3600  IN A     192.0.2.25
@       3600  IN MX    10 mail.example.test.
@       3600  IN TXT   "v=spf1 mx -all"
_dmarc  3600  IN TXT   "v=DMARC1; p=quarantine"
ZONE
  cat > "$S/knot.conf" <<CONF
server:
    rundir: "$S/run"
    listen: 127.0.0.2@5353
control:
    listen: "$S/run/knot.sock"
log:
  - target: stderr
    any: info
database:
    storage: "$S/db"
key:
  - id: migrate-key.
    algorithm: hmac-sha256
    secret: $SECRET
remote:
  - id: primary
    address: 127.0.0.1@5353
    key: migrate-key.
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: migrate-key.
    action: notify
template:
  - id: default
    storage: "$S/zones"
    file: "%s.zone"
zone:
  - domain: example.test
    master: primary
    acl: notify_from_primary
CONF
  for d in "$P" "$S"; do
    knotd -c "$d/knot.conf" > "$d/knotd.log" 2>&1 &
    echo $! > "$d/pid"
    for _ in $(seq 1 300); do
      knotc -c "$d/knot.conf" zone-status example.test 2>/dev/null | grep -q 'serial: 20' && break
      sleep 0.02
    done
  done
fi

if ! running "$D"; then
  rm -rf "$D"; mkdir -p "$D"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$D/api-key"; chmod 600 "$D/api-key"
  sqlite3 "$D/pdns.sqlite3" < /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  cat > "$D/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$D/pdns.sqlite3
local-address=127.0.0.1
local-port=5300
socket-dir=$D
api=yes
api-key=$(cat "$D/api-key")
webserver=yes
webserver-address=127.0.0.1
webserver-port=8081
webserver-allow-from=127.0.0.0/8
# API changes must be visible on the DNS port at once (default packet cache: 20 s).
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
CONF
  chmod 600 "$D/pdns.conf"
  pdns_server --config-dir="$D" --daemon=no --guardian=no --disable-syslog --write-pid=no > "$D/pdns.log" 2>&1 &
  echo $! > "$D/pid"
fi
echo "dns lab: knot 127.0.0.1:5353 + 127.0.0.2:5353, pdns 127.0.0.1:5300 api :8081 (state in $LAB)"
