#!/bin/sh
# Postfix as Mailu's core/postfix/conf/main.cf sets it up for local mail:
# the queue in /queue (queue_directory), the domains and mailboxes of the
# admin database (virtual_mailbox_domains/maps, which Mailu looks up over
# podop's socketmap; here hash tables made from /data/main.db and remade
# when it changes), aliases (virtual_alias_maps), and delivery to Dovecot
# over LMTP (virtual_transport = lmtp:inet:...; Mailu goes through the
# front on 2525, the stand-in straight to the imap service's LMTP port).
set -eu
maps() {
  sqlite3 -separator ' ' /data/main.db "select name, 'OK' from domain" > /etc/postfix/vdomains.new
  sqlite3 -separator ' ' /data/main.db "select email, 'OK' from user where enabled" > /etc/postfix/vmailbox.new
  sqlite3 -separator ' ' /data/main.db "select email, destination from alias" > /etc/postfix/valias.new
  for m in vdomains vmailbox valias; do
    postmap /etc/postfix/$m.new && mv /etc/postfix/$m.new.db /etc/postfix/$m.db && mv /etc/postfix/$m.new /etc/postfix/$m
  done
}
postconf -e \
  "queue_directory = /queue" \
  "myhostname = ${HOSTNAMES%%,*}" \
  "mydestination =" \
  "inet_interfaces = all" \
  "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" \
  "maillog_file = /dev/stdout" \
  "compatibility_level = 3.6" \
  "virtual_mailbox_domains = hash:/etc/postfix/vdomains" \
  "virtual_mailbox_maps = hash:/etc/postfix/vmailbox" \
  "virtual_alias_maps = hash:/etc/postfix/valias" \
  "virtual_transport = lmtp:inet:$MAILU_ADDR:$LMTP_PORT" \
  "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination" \
  "smtpd_banner = \$myhostname ESMTP Mailu stand-in" \
  "lmtp_host_lookup = native" \
  "smtp_host_lookup = native" \
  "disable_dns_lookups = yes"
# The SMTP listener on MAILU_ADDR:SMTP_PORT only (inet_interfaces takes
# addresses of interfaces, and 127.0.0.2 is one of lo's /8), no chroot (Mailu's master.cf
# runs its services unchrooted too).
postconf -M -e "$MAILU_ADDR:$SMTP_PORT/inet=$MAILU_ADDR:$SMTP_PORT inet n - n - - smtpd"
postconf -M -X smtp/inet 2>/dev/null || true
postconf -F -e '*/*/chroot = n'
# Mailu's core/postfix/start.py merges overrides/postfix.cf into main.cf
# line by line (postconf -e); a fallback MX relays its domains to the new
# server with `virtual_transport = smtp:[NEW]:25` there.
if [ -s /overrides/postfix.cf ]; then
  grep -v '^[[:space:]]*\(#\|$\)' /overrides/postfix.cf | while IFS= read -r line; do postconf -e "$line"; done
fi
maps
# A queue carried from another server keeps the old inode-based file names;
# postsuper -s renames them, as Postfix's manual asks after restoring one.
mkdir -p /queue
postfix set-permissions >/dev/null 2>&1 || true
postfix check
postsuper -s >/dev/null 2>&1 || true
(
  last=$(md5sum < /data/main.db)
  while sleep 1; do
    now=$(md5sum < /data/main.db 2>/dev/null || echo gone)
    [ "$now" = "$last" ] || { maps; last=$now; }
  done
) &
exec postfix start-fg
