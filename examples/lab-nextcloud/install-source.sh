#!/bin/bash
# Make a realistic Nextcloud 28.0.4 installation on THIS server (run it on
# the lab's src: `ssh src bash -s -- ROOT DB DOMAIN < install-source.sh`,
# with app/ and php copied to ROOT/../ first, see ../../tests/it/app_nextcloud.rs):
# the official layout (config/config.php with instanceid, passwordsalt and
# secret; data/appdata_<instanceid>/ with previews; user files with old
# mtimes; version.php), and a PostgreSQL database with users, file cache
# rows and app config. Idempotent for one ROOT: refuses if it holds files.
#
# In a compose project instead (ROOT is then the project's `html` volume
# directory): COMPOSE_DIR and COMPOSE_PROJECT name the project, whose `db`
# service is started here; APP_SRC the directory holding app/'s files;
# APP_DIR the path the app sees (/var/www/html); DB_ENGINE=mariadb for
# MariaDB (its own account and password, as Nextcloud logs in) instead of
# PostgreSQL. STACK names a deployed Co-op Cloud (swarm) stack instead of a
# compose project; DB_PASSWORD the account's password (from its secret).
set -euo pipefail
root=$1 db=$2 domain=$3
[[ -n "$(ls -A "$root" 2>/dev/null)" ]] && { echo "$root exists" >&2; exit 1; }
base=$(dirname "$root")
app_src=${APP_SRC:-$base/app}
app_dir=${APP_DIR:-$root}
engine=${DB_ENGINE:-postgresql}
# DB_PASSWORD: the account's password comes from a swarm secret the app
# reads itself (Co-op Cloud), so config.php keeps none.
dbpass=${DB_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
conf_dbpass=$([[ -n ${DB_PASSWORD:-} ]] || echo "$dbpass")
iid=oc$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
salt=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
secret=$(head -c 36 /dev/urandom | base64 | tr -d '/+=')
mkdir -p "$root"/{config,custom_apps/calendar,themes,data}
cp "$app_src/status.py" "$app_src/occ" "$root/"
cat > "$root/version.php" <<'PHP'
<?php
$OC_Version = array(28,0,4,1);
$OC_VersionString = '28.0.4';
$OC_Edition = '';
$OC_Channel = 'stable';
$OC_VersionCanBeUpgradedFrom = array ('nextcloud' => array ('27.1' => true, '28.0' => true));
PHP
cat > "$root/config/config.php" <<PHP
<?php
\$CONFIG = array (
  'instanceid' => '$iid',
  'passwordsalt' => '$salt',
  'secret' => '$secret',
  'trusted_domains' =>
  array (
    0 => '$domain',
  ),
  'datadirectory' => '$app_dir/data',
  'dbtype' => '$([[ $engine == mariadb ]] && echo mysql || echo pgsql)',
  'version' => '28.0.4.1',
  'overwrite.cli.url' => 'https://$domain',
  'dbname' => '$db',
  'dbhost' => '$([[ $engine == mariadb ]] && echo localhost:/run/mysqld/mysqld.sock || echo localhost)',
  'dbport' => '',
  'dbtableprefix' => 'oc_',
  'dbuser' => 'nc_$db',
  'dbpassword' => '$([[ $engine == mariadb ]] && echo "$conf_dbpass")',
  'installed' => true,
  'maintenance' => false,
  'data-fingerprint' => '',
);
PHP
echo '<?php // custom app' > "$root/custom_apps/calendar/appinfo.php"
# appdata of this instance: previews and app caches
for d in preview/1/2 preview/3/4 css/core js/core avatar/alice; do mkdir -p "$root/data/appdata_$iid/$d"; done
for i in $(seq 1 30); do head -c $((2000 + i * 97)) /dev/urandom > "$root/data/appdata_$iid/preview/$((i % 2 * 2 + 1))/$((i % 2 * 2 + 2))/$i-256-256.png"; done
echo 'body{}' > "$root/data/appdata_$iid/css/core/server.css"
# users' files, with mtimes in the past (clients compare them)
n=0
for u in alice bob carol; do
  mkdir -p "$root/data/$u/files/Documents" "$root/data/$u/files/Photos" "$root/data/$u/cache"
  for i in $(seq 1 40); do
    f="$root/data/$u/files/Photos/IMG_$i.jpg"; head -c $((20000 + i * 4099)) /dev/urandom > "$f"
    touch -d "2023-0$((i % 9 + 1))-1$((i % 9)) 12:00:00" "$f"; n=$((n + 1))
  done
  for i in $(seq 1 10); do echo "notes $u $i" > "$root/data/$u/files/Documents/note-$i.md"; n=$((n + 1)); done
done
head -c 4194304 /dev/urandom > "$root/data/alice/files/Documents/big.bin"
printf '' > "$root/data/.ocdata"
: > "$root/data/nextcloud.log"
chown -R www-data:www-data "$root"
chmod 640 "$root/config/config.php"
# database
users="('alice','Alice','3|\$argon2id\$v=19\$m=65536,t=4,p=1\$x'),('bob','Bob','3|\$argon2id\$v=19\$m=65536,t=4,p=1\$y'),('carol','Carol','3|\$argon2id\$v=19\$m=65536,t=4,p=1\$z')"
# one filecache row per file, as files:scan would make: storage, path, name, size, mtime, etag
filecache() {
  ( cd "$root/data" && find . -type f -printf '%P\t%s\t%T@\n' ) | while IFS=$'\t' read -r p s t; do
    u=${p%%/*}; case $u in alice) st=1;; bob) st=2;; carol) st=3;; *) st=4;; esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$st" "$p" "$(basename "$p")" "$s" "${t%.*}" "$(printf '%s' "$p" | md5sum | cut -c1-13)"
  done
}
if [[ $engine == mariadb ]]; then
  if [[ -n ${STACK:-} ]]; then
    # A Co-op Cloud stack (already deployed): its db service's container.
    dbc() { docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_db" | head -n 1; }
    for _ in $(seq 240); do [[ -n $(dbc) ]] && docker exec "$(dbc)" mysqladmin ping --silent </dev/null >/dev/null 2>&1 && break; sleep 0.5; done
    my() { docker exec -i "$(dbc)" mysql "$@"; }
  else
    dc() { docker-compose -f "$COMPOSE_DIR/docker-compose.yml" -p "$COMPOSE_PROJECT" "$@"; }
    # </dev/null: compose reads stdin, which may be this very script (bash -s)
    dc up -d db </dev/null >/dev/null 2>&1
    for _ in $(seq 120); do dc exec -T db mysqladmin ping --silent </dev/null >/dev/null 2>&1 && break; sleep 0.5; done
    my() { dc exec -T db mysql "$@"; }
  fi
  my <<SQL
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS 'nc_$db'@'%' IDENTIFIED BY '$dbpass';
GRANT ALL PRIVILEGES ON \`$db\`.* TO 'nc_$db'@'%';
SQL
  my "$db" <<SQL
CREATE TABLE oc_users (uid varchar(64) PRIMARY KEY, displayname varchar(64), password varchar(255));
CREATE TABLE oc_storages (numeric_id int AUTO_INCREMENT PRIMARY KEY, id varchar(64) UNIQUE);
CREATE TABLE oc_filecache (fileid bigint AUTO_INCREMENT PRIMARY KEY, storage int, path text, name text, size bigint, mtime bigint, etag varchar(40));
CREATE TABLE oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text, PRIMARY KEY (appid, configkey));
INSERT INTO oc_users VALUES $users;
INSERT INTO oc_storages (id) VALUES ('home::alice'),('home::bob'),('home::carol'),('local::$app_dir/data/');
INSERT INTO oc_appconfig VALUES ('core','installedat','1700000000'),('core','vendor','nextcloud'),('files','enabled','yes'),('calendar','installed_version','4.6.0');
SQL
  filecache | awk -F'\t' '{ printf "INSERT INTO oc_filecache (storage, path, name, size, mtime, etag) VALUES (%s, \x27%s\x27, \x27%s\x27, %s, %s, \x27%s\x27);\n", $1, $2, $3, $4, $5, $6 }' | my "$db"
else
cd /
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nc_$db') THEN CREATE ROLE "nc_$db" LOGIN; END IF; END\$\$;
CREATE DATABASE "$db" OWNER "nc_$db";
SQL
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
SET ROLE "nc_$db";
CREATE TABLE oc_users (uid varchar(64) PRIMARY KEY, displayname varchar(64), password varchar(255));
CREATE TABLE oc_storages (numeric_id serial PRIMARY KEY, id varchar(64) UNIQUE);
CREATE TABLE oc_filecache (fileid bigserial PRIMARY KEY, storage int, path text, name text, size bigint, mtime bigint, etag varchar(40));
CREATE TABLE oc_appconfig (appid varchar(32), configkey varchar(64), configvalue text, PRIMARY KEY (appid, configkey));
INSERT INTO oc_users VALUES $users;
INSERT INTO oc_storages (id) VALUES ('home::alice'),('home::bob'),('home::carol'),('local::$app_dir/data/');
INSERT INTO oc_appconfig VALUES ('core','installedat','1700000000'),('core','vendor','nextcloud'),('files','enabled','yes'),('calendar','installed_version','4.6.0');
SQL
filecache | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "COPY oc_filecache (storage, path, name, size, mtime, etag) FROM STDIN"
fi
echo "installed Nextcloud 28.0.4 at $root (instanceid $iid, $n user files, database $db)"
