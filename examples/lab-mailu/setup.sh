#!/bin/sh
# Lays out a fresh stand-in Mailu in the current directory (the one holding
# docker-compose.yml and mailu.env), as Mailu's setup leaves /mailu: the
# directories of the compose file's mounts, then the admin CLI's first
# commands (docs/cli.rst: `flask mailu user ...`) and the domain's DKIM key.
#   sh setup.sh PROJECT DOMAIN USER:PASSWORD...
set -eu
project=$1 domain=$2; shift 2
mkdir -p data dkim mail mailqueue certs redis filter dav webmail \
  overrides/nginx overrides/dovecot overrides/postfix overrides/rspamd
dc() { MAILU_ADDR=${MAILU_ADDR:-127.0.0.1} docker-compose -p "$project" "$@"; }
admin() { dc run --rm --no-deps -T admin python3 /standin/admin.py "$@" </dev/null >/dev/null; }
admin domain "$domain"
for up in "$@"; do
  admin user "${up%%:*}" "$domain" "${up#*:}"
done
admin dkim "$domain"
