#!/bin/bash
# Start a Redis for one lab Mastodon install on THIS server, the way a
# from-source install runs Debian's redis-server: its own config file in
# /etc/redis, data in /var/lib/redis/NAME, run as the redis user. The lab
# servers share one network namespace, so it listens on a unix socket only
# (/run/redis-NAME/redis.sock, the same path on both servers), with
# appendonly on so a move carries the append-only files too. Arg: NAME.
set -euo pipefail
name=$1
conf=/etc/redis/$name.conf run=/run/redis-$name data=/var/lib/redis/$name
install -d -o redis -g redis -m 755 "$run"
install -d -o redis -g redis -m 750 "$data"
cat > "$conf" <<CONF
port 0
unixsocket $run/redis.sock
unixsocketperm 777
dir $data
dbfilename dump.rdb
appendonly yes
save 3600 1
daemonize yes
pidfile $run/redis.pid
logfile $run/redis.log
CONF
chown redis:redis "$conf"
runuser -u redis -- redis-server "$conf"
for _ in $(seq 100); do redis-cli -s "$run/redis.sock" ping 2>/dev/null | grep -q PONG && exit 0; sleep 0.1; done
echo "redis for $name did not start" >&2; exit 1
