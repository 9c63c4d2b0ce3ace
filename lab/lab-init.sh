#!/bin/bash
# lab-init.sh - PID-1 payload of each lab server container (run under docker --init).
# Bind-mounted read-only to /usr/local/sbin/lab-init by up.sh.
# Env: LAB_NAME (src|dst), LAB_ADDR (its loopback address), LAB_SERVICES.
# Configures sshd/ssh/postgres/mariadb to use the server's own loopback address,
# starts the requested services, then execs sshd in the foreground.
set -u
: "${LAB_NAME:?}" "${LAB_ADDR:?}"
LAB_SERVICES="${LAB_SERVICES:-postgresql docker}"
# (hostname comes from docker run --hostname; never call `hostname` here: with
#  --privileged a shared UTS namespace would rename the real machine)
mkdir -p /run/sshd /var/log
chmod 0755 /run/sshd

# sshd: listen only on this server's address; host keys persist in /etc/ssh/lab-hostkeys
cat > /etc/ssh/sshd_config.d/listen.conf <<EOF
ListenAddress $LAB_ADDR:22
HostKey /etc/ssh/lab-hostkeys/ssh_host_ed25519_key
HostKey /etc/ssh/lab-hostkeys/ssh_host_rsa_key
EOF
# ssh client: originate from this server's address, so that src->dst traffic is
# 127.0.0.2->127.0.0.3 (needed by shape.sh to tell it apart from operator traffic).
# Never trust on first use: an unknown host key is a refusal, for every user.
# root's pinned keys are in /root/.ssh/known_hosts (written by up.sh); there is
# deliberately no global /etc/ssh/ssh_known_hosts, so `deploy` trusts nobody.
cat > /etc/ssh/ssh_config.d/lab.conf <<EOF
BindAddress $LAB_ADDR
StrictHostKeyChecking yes
EOF

# deploy (uid 1000, NOPASSWD sudo): the operator may log in, but the servers do
# not trust each other as deploy and know no host keys.  That is a fresh pair of
# servers, for tests of temporary server-to-server trust.
if [[ -r /etc/ssh/lab-operator.pub ]] && id deploy >/dev/null 2>&1; then
  install -d -o deploy -g deploy -m 700 /home/deploy/.ssh
  install -o deploy -g deploy -m 600 /etc/ssh/lab-operator.pub /home/deploy/.ssh/authorized_keys
fi

# a tiny filesystem, for "destination disk full" tests without filling /srv
mkdir -p /mnt/tiny
mountpoint -q /mnt/tiny || mount -t tmpfs -o size=${LAB_TINY_SIZE:-8m},mode=1777 lab-tiny /mnt/tiny \
  || echo "lab-init: could not mount /mnt/tiny" >&2

if [[ " $LAB_SERVICES " == *" postgresql "* ]]; then
  install -d -o postgres -g postgres -m 2775 /run/postgresql
  # /var/lib/postgresql is a persistent bind mount: initialise the cluster on first boot
  if [[ ! -f /var/lib/postgresql/15/main/PG_VERSION ]]; then
    install -d -o postgres -g postgres -m 700 /var/lib/postgresql/15/main
    chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/15
    su postgres -s /bin/sh -c '/usr/lib/postgresql/15/bin/initdb -D /var/lib/postgresql/15/main \
        --auth-local peer --auth-host scram-sha-256 --encoding UTF8 --locale C.UTF-8' >/var/log/initdb.log 2>&1 \
      || echo "lab-init: initdb failed (see /var/log/initdb.log)" >&2
  fi
  conf=/etc/postgresql/15/main
  echo "listen_addresses = '$LAB_ADDR'" > $conf/conf.d/lab.conf
  grep -q '127.0.0.0/8' $conf/pg_hba.conf || echo 'host all all 127.0.0.0/8 scram-sha-256' >> $conf/pg_hba.conf
  pg_ctlcluster 15 main start || echo "lab-init: postgresql failed to start" >&2
fi

if [[ " $LAB_SERVICES " == *" mariadb "* ]]; then
  install -d -o mysql -g mysql /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then   # persistent bind mount: initialise on first boot
    chown mysql:mysql /var/lib/mysql
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/var/log/mariadb-install.log 2>&1 \
      || echo "lab-init: mariadb-install-db failed" >&2
  fi
  printf '[mysqld]\nbind-address = %s\n' "$LAB_ADDR" > /etc/mysql/mariadb.conf.d/99-lab.cnf
  /etc/init.d/mariadb start >/var/log/mariadb-start.log 2>&1 || echo "lab-init: mariadb failed to start" >&2
fi

if [[ " $LAB_SERVICES " == *" docker "* ]]; then
  # The server's OWN docker engine: data in /var/lib/docker (host bind mount, ext4,
  # so overlay2 works), socket /var/run/docker.sock inside + /lab/docker.sock
  # (visible on the operator as $LAB_STATE/hosts/NAME/lab/docker.sock).
  # No bridge/iptables/ip_forward changes: the container shares the host netns.
  mkdir -p /lab
  rm -f /lab/docker.sock
  dockerd --data-root /var/lib/docker --exec-root /run/docker --pidfile /run/docker.pid \
          -H unix:///var/run/docker.sock -H unix:///lab/docker.sock \
          --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
          --storage-driver overlay2 --cgroup-parent "/lab-$LAB_NAME" \
          >/var/log/dockerd.log 2>&1 &
fi

exec /usr/sbin/sshd -D -e
