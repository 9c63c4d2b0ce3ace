#!/bin/sh
# Dovecot as Mailu's core/dovecot/conf/dovecot.conf sets it up for mail:
# maildirs at /mail/<email> (mail_location = maildir:/mail/%u, mail_home =
# /mail/%u), LMTP for Postfix's deliveries, IMAP for users. Mailu's passdb
# asks the admin service (dict over HTTP); here checkpassword.py checks the
# same user table in /data/main.db.
set -eu
cat > /etc/dovecot/dovecot.conf <<CONF
protocols = imap lmtp
listen = $MAILU_ADDR
log_path = /dev/stderr
info_log_path = /dev/stdout
mail_location = maildir:/mail/%u
mail_home = /mail/%u
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
maildir_stat_dirs = yes
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = no
passdb {
  driver = checkpassword
  args = /standin/checkpassword.py
}
userdb {
  driver = static
  # Postfix only hands over recipients of the user table (vmailbox), so
  # LMTP need not ask the passdb whether a user exists.
  args = uid=mail gid=mail home=/mail/%u allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = $MAILU_ADDR
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = $MAILU_ADDR
    port = $LMTP_PORT
  }
}
protocol lmtp {
  postmaster_address = postmaster@${DOMAIN:-localhost}
}
CONF
mkdir -p /mail && chown mail:mail /mail
exec dovecot -F
