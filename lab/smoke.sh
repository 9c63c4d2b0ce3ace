#!/usr/bin/env bash
# smoke.sh - functional check of a running lab (about 20 s). Exit 0 = all good.
# Checks: ssh to both servers, server-to-server ssh (pinned keys), separate ext4
# disks at /srv, tools present, inner docker engines (volume moved src -> dst
# through a pipe), postgres 15 on each (dump piped src -> dst), the deploy user.
# Leaves no state behind.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/common.sh"
LAB_SERVICES=$(lab_running_services)
s() { ssh -F "$LAB_STATE/ssh_config" "$@"; }
pass=0; fail=0
check() { local name=$1; shift
  if out=$("$@" 2>&1); then pass=$((pass+1)); echo "ok   $name"
  else fail=$((fail+1)); echo "FAIL $name"; echo "$out" | tail -5 | sed 's/^/     /'; fi; }

t_ssh()      { [[ "$(s "$1" hostname)" == "$1" ]]; }
t_s2s()      { [[ "$(s "$1" "ssh $2 hostname")" == "$2" ]]; }
t_bind()     { s src "ssh dst 'echo \$SSH_CLIENT'" | grep -q '^127\.0\.0\.2 '; }
# /srv of each server is an ext4 filesystem of its own (not the container's overlay,
# not the other server's disk): compare the backing devices too
t_disk() {
  local a b
  a=$(s src 'findmnt -n -o FSTYPE,MAJ:MIN --target /srv') || return 1
  b=$(s dst 'findmnt -n -o FSTYPE,MAJ:MIN --target /srv') || return 1
  echo "src: $a  dst: $b"
  [[ "$a" == ext4\ * && "$b" == ext4\ * && "$a" != "$b" ]]
}
t_sepfs()    { s src 'echo x > /srv/.smoke'; ! s dst 'test -e /srv/.smoke'; local r=$?; s src 'rm -f /srv/.smoke'; return $r; }
t_tools()    { s "$1" 'for t in tar rsync zstd pigz gzip pv mbuffer sha256sum setsid tmux find getfattr setfattr \
                        setfacl getfacl psql pg_dump docker docker-compose ssh sudo jq curl busybox python3; do
                        command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done
                      tar --version | head -1 | grep -q "GNU tar"'; }
t_docker_run() { [[ "$(s "$1" 'docker run --rm lab/busybox:latest echo hi-from-$(hostname)')" == "hi-from-$1" ]]; }
t_volume() {
  s src 'docker volume create smoke >/dev/null && docker run --rm -v smoke:/d lab/busybox sh -c "echo payload > /d/f && chown 991:991 /d/f"' &&
  s src 'docker run --rm -v smoke:/d:ro lab/busybox tar -C /d -cf - .' |
    s dst 'docker volume create smoke >/dev/null && docker run --rm -i -v smoke:/d lab/busybox tar -C /d -xpf -' &&
  [[ "$(s dst 'stat -c %u:%s /var/lib/docker/volumes/smoke/_data/f')" == 991:8 ]]; local r=$?
  s src 'docker volume rm smoke' >/dev/null; s dst 'docker volume rm smoke' >/dev/null; return $r
}
t_docker_sock() { DOCKER_HOST="unix://$LAB_STATE/hosts/$1/lab/docker.sock" docker info >/dev/null; }
t_pg_version() { s "$1" 'cd /tmp && sudo -u postgres psql -Atc "show server_version"' | grep -q '^15\.'; }
t_pg() {
  s src 'cd /tmp && sudo -u postgres createdb smoke && sudo -u postgres psql -q smoke -c "create table t as select generate_series(1,1000) id"' &&
  s src 'cd /tmp && sudo -u postgres pg_dump -Fc smoke' | s dst 'cd /tmp && sudo -u postgres createdb smoke && sudo -u postgres pg_restore -d smoke' &&
  [[ "$(s dst 'cd /tmp && sudo -u postgres psql -Atc "select count(*) from t" smoke')" == 1000 ]]; local r=$?
  s src 'cd /tmp && sudo -u postgres dropdb --if-exists smoke'; s dst 'cd /tmp && sudo -u postgres dropdb --if-exists smoke'; return $r
}
t_mariadb() { s "$1" 'mariadb -Nse "select version()"' | grep -q '^10\.11\.'; }
# deploy: reachable from the operator with sudo, but no server-to-server trust
t_deploy()   { [[ "$(s deploy@src 'sudo -n id -u')" == 0 ]] && ! s deploy@src 'ssh -o BatchMode=yes -o ConnectTimeout=3 dst true'; }
t_tiny()     { ! s dst 'head -c 20M /dev/zero > /mnt/tiny/fill'; local r=$?; s dst 'rm -f /mnt/tiny/fill'; return $r; }

check "ssh src"                          t_ssh src
check "ssh dst"                          t_ssh dst
check "src -> dst ssh (pinned host key)" t_s2s src dst
check "dst -> src ssh"                   t_s2s dst src
check "src ssh client binds 127.0.0.2"   t_bind
check "own ext4 disk at /srv on each"    t_disk
check "separate filesystems"             t_sepfs
check "tools on src"                     t_tools src
check "tools on dst"                     t_tools dst
check "deploy@src: sudo, no trust of dst" t_deploy
check "/mnt/tiny on dst fills up"        t_tiny
if [[ " $LAB_SERVICES " == *" docker "* ]]; then
  check "docker run on src (lab/busybox)"  t_docker_run src
  check "docker run on dst (lab/busybox)"  t_docker_run dst
  check "docker volume src -> dst (pipe)"  t_volume
  check "operator docker API socket (src)" t_docker_sock src
  check "operator docker API socket (dst)" t_docker_sock dst
fi
if [[ " $LAB_SERVICES " == *" postgresql "* ]]; then
  check "postgres 15 on src"               t_pg_version src
  check "postgres 15 on dst"               t_pg_version dst
  check "pg_dump src | pg_restore dst"     t_pg
fi
if [[ " $LAB_SERVICES " == *" mariadb "* ]]; then
  check "mariadb 10.11 on src"             t_mariadb src
  check "mariadb 10.11 on dst"             t_mariadb dst
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
