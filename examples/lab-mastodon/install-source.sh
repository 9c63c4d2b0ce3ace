#!/bin/bash
# Make a realistic from-source Mastodon 4.3.2 install on THIS server (the
# lab's src): ~mastodon/live layout with .env.production (secrets, 4.3
# Active Record encryption keys), lib/mastodon/version.rb, the
# public/system media hash tree, and a PostgreSQL database with accounts,
# statuses and media rows. Args: ROOT DB DOMAIN. app/ must be in ROOT/../.
# With REDIS_SOCKET set, the app's Redis is that unix socket (see redis.sh;
# Sidekiq's stand-in, app/worker.py, queues its jobs there).
# VERSION (default 4.3.2) is the Mastodon version version.rb says; with
# HOMETOWN (e.g. 1.1.1) set it is Hometown's: version.rb also defines
# hometown_version, as Hometown's does, and the web stand-in reports
# VERSION+hometown-HOMETOWN.
# With COMPOSE_PROJECT set, the install is a compose project instead
# (compose/docker-compose.yml must be in ROOT/../compose/): the database
# lives in the project's `db` container, started here.
set -euo pipefail
root=$1 db=$2 domain=$3
[[ -e $root ]] && { echo "$root exists" >&2; exit 1; }
base=$(dirname "$root")
id mastodon >/dev/null 2>&1 || useradd -r -m -d /home/mastodon -s /bin/sh mastodon
rnd() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
mkdir -p "$root"/{lib/mastodon,bin,public/system,config}
cp "$base/app/server.py" "$base/app/worker.py" "$root/"; cp "$base/app/bin/tootctl" "$root/bin/"
IFS=. read -r vmaj vmin vpat <<< "${VERSION:-4.3.2}"
cat > "$root/lib/mastodon/version.rb" <<RB
# frozen_string_literal: true

module Mastodon
  module Version
    module_function

    def major
      $vmaj
    end

    def minor
      $vmin
    end

    def patch
      $vpat
    end
$(if [[ -n ${HOMETOWN:-} ]]; then printf '\n    def hometown_version\n      %s\n    end\n' "'hometown-$HOMETOWN'"; fi)
  end
end
RB
cat > "$root/.env.production" <<ENV
LOCAL_DOMAIN=$domain
SINGLE_USER_MODE=false
SECRET_KEY_BASE=$(rnd 64)
OTP_SECRET=$(rnd 64)
VAPID_PRIVATE_KEY=$(rnd 32)
VAPID_PUBLIC_KEY=$(rnd 65)
ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY=$(rnd 16)
ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT=$(rnd 16)
ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY=$(rnd 16)
DB_HOST=/var/run/postgresql
DB_USER=mastodon
DB_NAME=$db
$(if [[ -n ${REDIS_SOCKET:-} ]]; then echo "REDIS_URL=unix://$REDIS_SOCKET"; else echo REDIS_HOST=localhost; fi)
ES_ENABLED=false
ENV
chmod 600 "$root/.env.production"
# media: public/system/media_attachments/files/AAA/BBB/CCC/original/NAME
n=0
for i in $(seq 1 60); do
  id=$((109000000000000000 + i * 7919))
  p=$(printf '%018d' "$id" | sed -E 's/(...)(...)(...)(...)(...)(...)/\1\/\2\/\3\/\4\/\5\/\6/')
  for v in original small; do
    d="$root/public/system/media_attachments/files/$p/$v"; mkdir -p "$d"
    head -c $((3000 + i * 211)) /dev/urandom > "$d/$(rnd 8).png"; n=$((n + 1))
  done
  mkdir -p "$root/public/system/cache/media_attachments/files/$p/small"
  head -c 900 /dev/urandom > "$root/public/system/cache/media_attachments/files/$p/small/remote.png"
done
mkdir -p "$root/public/system/accounts/avatars/000/000/001/original"
head -c 5000 /dev/urandom > "$root/public/system/accounts/avatars/000/000/001/original/avatar.png"
chown -R mastodon:mastodon "$root"
psql_() { cd / && runuser -u postgres -- psql "$@"; }
if [[ -n ${COMPOSE_PROJECT:-} ]]; then
  cp "$base/compose/docker-compose.yml" "$root/"
  dc() { docker-compose -f "$root/docker-compose.yml" -p "$COMPOSE_PROJECT" "$@"; }
  # </dev/null: compose reads stdin, which may be this very script (bash -s)
  dc up -d db </dev/null >/dev/null 2>&1
  for _ in $(seq 120); do dc exec -T -u postgres db pg_isready -q </dev/null && break; sleep 0.5; done
  psql_() { dc exec -T -u postgres db psql "$@"; }
fi
psql_ -X -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mastodon') THEN CREATE ROLE mastodon LOGIN; END IF; END\$\$;
CREATE DATABASE "$db" OWNER mastodon;
SQL
psql_ -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET ROLE mastodon;
CREATE TABLE accounts (id bigserial PRIMARY KEY, username varchar NOT NULL, domain varchar, display_name varchar);
CREATE TABLE statuses (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts, text text, created_at timestamptz DEFAULT now());
CREATE TABLE media_attachments (id bigserial PRIMARY KEY, status_id bigint REFERENCES statuses, file_file_name varchar);
CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
INSERT INTO accounts (username, domain, display_name) SELECT 'user' || g, NULL, 'User ' || g FROM generate_series(1, 25) g;
INSERT INTO accounts (username, domain, display_name) SELECT 'remote' || g, 'other.example', 'Remote ' || g FROM generate_series(1, 40) g;
INSERT INTO statuses (account_id, text) SELECT 1 + g % 65, 'toot number ' || g FROM generate_series(1, 2000) g;
INSERT INTO media_attachments (status_id, file_file_name) SELECT g, 'file' || g || '.png' FROM generate_series(1, 60) g;
INSERT INTO schema_migrations SELECT '2024' || lpad(g::text, 10, '0') FROM generate_series(1, 300) g;
SQL
echo "installed Mastodon ${VERSION:-4.3.2}${HOMETOWN:++hometown-$HOMETOWN} at $root ($n media files, database $db)"
