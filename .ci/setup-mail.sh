#!/usr/bin/env bash
# Mail test prerequisites: Dovecot (IMAP) and openssl. The tests start their
# own Dovecot instances (source and destination, loopback ports, passwd-file
# users, Maildir) in temporary directories, so nothing is started here.
# Idempotent; quick when everything is installed.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # dovecot-core's postinst would start a system-wide dovecot (listening on
    # every address) through invoke-rc.d; the tests run their own on
    # loopback. A temporary policy-rc.d (exit 101 = "not allowed") stops it.
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y --no-install-recommends "${need[@]}"
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

# Dovecot refuses to access mail as uid 0 (facts/dns-mail.md B4.2): the test
# instances store mail as this user.
id vmail >/dev/null 2>&1 || useradd --system --uid 5000 --user-group \
    --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin vmail

dovecot --version
