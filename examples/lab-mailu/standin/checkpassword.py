#!/usr/bin/python3
"""Dovecot's checkpassword protocol against Mailu's `user` table.

Mailu checks a login in core/admin/mailu/internal/views/auth.py and
models.User.check_password: the user must exist and be enabled (and
enable_imap for IMAP), and the password must match the stored hash, with
a `{SCHEME}` prefix stripped (`{SHA512-CRYPT}`, `{BLF-CRYPT}`, ...). The
stand-in verifies crypt(3) hashes (SHA512-CRYPT, SHA256-CRYPT); Mailu's
default bcrypt_sha256 needs passlib, which the lab image lacks.
"""
import os
import sqlite3
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import crypt  # noqa: E402


def main():
    data = os.read(3, 4096).split(b"\0")
    if len(data) < 2:
        return 2
    user = data[0].decode("utf-8", "replace").lower()
    password = data[1].decode("utf-8", "replace")
    db = sqlite3.connect("file:/data/main.db?mode=ro", uri=True)
    row = db.execute(
        "select password, enabled, enable_imap from user where email = ?", (user,)
    ).fetchone()
    if row is None or not row[1] or not row[2]:
        return 1
    stored = row[0]
    if stored.startswith("{"):
        stored = stored.split("}", 1)[1]
    if not stored or crypt.crypt(password, stored) != stored:
        return 1
    os.environ["USER"] = user
    os.execvp(sys.argv[1], sys.argv[1:])


sys.exit(main())
