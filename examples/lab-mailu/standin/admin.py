#!/usr/bin/python3
"""The stand-in for Mailu's admin service: its database and the part of
its REST API and CLI a migration uses.

- The SQLite database /data/main.db with the tables and columns of
  core/admin/mailu/models.py that matter to mail (domain, user, alias);
  passwords are stored as Mailu stores imported hashes, `{SCHEME}hash`.
- The REST API (core/admin/mailu/api/common.py, api/v1/user.py,
  api/v1/domain.py), enabled by API=true with API_TOKEN in mailu.env:
  `Authorization: <token>` or `Bearer <token>`; 401 without the header,
  403 with a wrong token (or a token shorter than 4 characters);
  GET/POST /api/v1/user, GET/PATCH/DELETE /api/v1/user/<email>,
  GET/POST /api/v1/domain, GET /api/v1/domain/<name>. POST /user answers
  400 for a bad address, 404 for an unknown domain, 409 for a duplicate.
- The CLI (docs/cli.rst, `flask mailu ...`): `domain NAME`,
  `user LOCAL DOMAIN PASSWORD`, `alias LOCAL DOMAIN DEST`, and `dkim
  DOMAIN` (the admin's "generate keys": /dkim/<domain>.dkim.key, as
  models.Domain.dkim_key names it with DKIM_PATH).
- GET /ping answers 200 with an empty body (the admin Dockerfile's
  healthcheck).

Passwords set through the API are hashed with SHA512-CRYPT, not Mailu's
bcrypt_sha256 (passlib is missing from the lab image); both verify the
same way through the checkpassword program.
"""
import hmac
import json
import os
import re
import sqlite3
import subprocess
import sys
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

warnings.simplefilter("ignore", DeprecationWarning)
import crypt  # noqa: E402

DB = "/data/main.db"
SCHEMA = """
create table if not exists domain (
  name varchar(80) primary key not null,
  created_at date not null default (date('now')),
  updated_at date, comment varchar(255) default '',
  max_users integer not null default -1,
  max_aliases integer not null default -1,
  max_quota_bytes bigint not null default 0,
  signup_enabled boolean not null default 0
);
create table if not exists user (
  email varchar(255) primary key not null,
  localpart varchar(80) not null,
  domain_name varchar(80) not null references domain(name),
  created_at date not null default (date('now')),
  updated_at date, comment varchar(255) default '',
  password varchar(255) not null,
  quota_bytes bigint not null default 1000000000,
  quota_bytes_used bigint not null default 0,
  global_admin boolean not null default 0,
  enabled boolean not null default 1,
  enable_imap boolean not null default 1,
  enable_pop boolean not null default 1,
  displayed_name varchar(160) not null default '',
  change_pw_next_login boolean not null default 0
);
create table if not exists alias (
  email varchar(255) primary key not null,
  localpart varchar(80) not null,
  domain_name varchar(80) not null references domain(name),
  created_at date not null default (date('now')),
  updated_at date, comment varchar(255) default '',
  wildcard boolean not null default 0,
  destination text not null default ''
);
"""
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def db():
    c = sqlite3.connect(DB)
    c.executescript(SCHEMA)
    return c


def hash_password(pw):
    return "{SHA512-CRYPT}" + crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))


def user_row(c, email):
    cols = ["email", "password", "quota_bytes", "quota_bytes_used", "global_admin",
            "enabled", "enable_imap", "enable_pop", "displayed_name", "comment",
            "change_pw_next_login"]
    r = c.execute(f"select {', '.join(cols)} from user where email = ?", (email,)).fetchone()
    if r is None:
        return None
    u = dict(zip(cols, r))
    for b in ["global_admin", "enabled", "enable_imap", "enable_pop", "change_pw_next_login"]:
        u[b] = bool(u[b])
    return u


class Api(BaseHTTPRequestHandler):
    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("admin: " + (fmt % args) + "\n")

    def authorized(self):
        token = os.environ.get("API_TOKEN", "")
        got = self.headers.get("Authorization")
        if not got:
            self.reply(401, {"code": 401, "message": "A valid Authorization header is mandatory"})
            return False
        got = got.removeprefix("Bearer ")
        if os.environ.get("API", "false").lower() != "true" or len(token) < 4 \
                or not hmac.compare_digest(got.encode(), token.encode()):
            self.reply(403, {"code": 403, "message": "Invalid API token"})
            return False
        return True

    def payload(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None

    def route(self, method):
        path = unquote(self.path.split("?", 1)[0]).rstrip("/")
        if method == "GET" and path == "/ping":
            return self.reply(200)
        if not path.startswith("/api/v1/"):
            return self.reply(404, {"message": "not found"})
        if not self.authorized():
            return None
        parts = path[len("/api/v1/"):].split("/")
        c = db()
        try:
            return self.api(c, method, parts)
        finally:
            c.close()

    def api(self, c, method, parts):
        if parts == ["user"] and method == "GET":
            emails = [r[0] for r in c.execute("select email from user order by email")]
            return self.reply(200, [user_row(c, e) for e in emails])
        if parts == ["user"] and method == "POST":
            data = self.payload()
            if not isinstance(data, dict) or "email" not in data or "raw_password" not in data:
                return self.reply(400, {"code": 400, "message": "Input payload validation failed"})
            email = str(data["email"]).lower()
            if not EMAIL.match(email):
                return self.reply(400, {"code": 400, "message": f"Provided email address {email} is not a valid email address"})
            local, dom = email.rsplit("@", 1)
            if c.execute("select 1 from domain where name = ?", (dom,)).fetchone() is None:
                return self.reply(404, {"code": 404, "message": f"Domain {dom} does not exist"})
            if user_row(c, email) is not None:
                return self.reply(409, {"code": 409, "message": f"User {email} already exists"})
            c.execute(
                "insert into user (email, localpart, domain_name, password, quota_bytes, enabled) values (?, ?, ?, ?, ?, ?)",
                (email, local, dom, hash_password(data["raw_password"]),
                 int(data.get("quota_bytes", 10**9)), 1 if data.get("enabled", True) else 0))
            c.commit()
            return self.reply(200, {"code": 200, "message": f"User {email} has been created"})
        if len(parts) == 2 and parts[0] == "user":
            email = parts[1].lower()
            u = user_row(c, email)
            if u is None:
                return self.reply(404, {"code": 404, "message": f"user {email} cannot be found"})
            if method == "GET":
                return self.reply(200, u)
            if method == "PATCH":
                data = self.payload()
                if not isinstance(data, dict):
                    return self.reply(400, {"code": 400, "message": "Input payload validation failed"})
                if "raw_password" in data:
                    c.execute("update user set password = ? where email = ?", (hash_password(data["raw_password"]), email))
                if "quota_bytes" in data:
                    c.execute("update user set quota_bytes = ? where email = ?", (int(data["quota_bytes"]), email))
                c.commit()
                return self.reply(200, {"code": 200, "message": f"User {email} updated successfully"})
            if method == "DELETE":
                c.execute("delete from user where email = ?", (email,))
                c.commit()
                return self.reply(200, {"code": 200, "message": f"User {email} has been deleted"})
        if parts == ["domain"] and method == "GET":
            return self.reply(200, [{"name": r[0]} for r in c.execute("select name from domain order by name")])
        if parts == ["domain"] and method == "POST":
            data = self.payload() or {}
            name = str(data.get("name", "")).lower()
            if not name:
                return self.reply(400, {"code": 400, "message": "Input payload validation failed"})
            if c.execute("select 1 from domain where name = ?", (name,)).fetchone():
                return self.reply(409, {"code": 409, "message": f"Domain {name} already exists"})
            c.execute("insert into domain (name) values (?)", (name,))
            c.commit()
            return self.reply(200, {"code": 200, "message": f"Domain {name} has been created"})
        if len(parts) == 2 and parts[0] == "domain" and method == "GET":
            r = c.execute("select name from domain where name = ?", (parts[1].lower(),)).fetchone()
            if r is None:
                return self.reply(404, {"code": 404, "message": f"Domain {parts[1]} does not exist"})
            return self.reply(200, {"name": r[0]})
        return self.reply(405 if parts[0] in ("user", "domain") else 404, {"message": "not supported by the stand-in"})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "serve"
    c = db()
    if cmd == "serve":
        c.close()
        addr = (os.environ["MAILU_ADDR"], int(os.environ["ADMIN_PORT"]))
        ThreadingHTTPServer(addr, Api).serve_forever()
    elif cmd == "domain":
        c.execute("insert or ignore into domain (name) values (?)", (argv[2].lower(),))
    elif cmd == "user":
        local, dom, pw = argv[2].lower(), argv[3].lower(), argv[4]
        c.execute("insert or ignore into domain (name) values (?)", (dom,))
        c.execute("insert into user (email, localpart, domain_name, password) values (?, ?, ?, ?)",
                  (f"{local}@{dom}", local, dom, hash_password(pw)))
    elif cmd == "alias":
        local, dom, dest = argv[2].lower(), argv[3].lower(), argv[4]
        c.execute("insert into alias (email, localpart, domain_name, destination) values (?, ?, ?, ?)",
                  (f"{local}@{dom}", local, dom, dest))
    elif cmd == "dkim":
        key = f"/dkim/{argv[2].lower()}.{os.environ.get('DKIM_SELECTOR', 'dkim')}.key"
        os.makedirs("/dkim", exist_ok=True)
        if not os.path.exists(key):
            subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    else:
        sys.exit(f"unknown command {cmd!r}: serve, domain, user, alias, dkim")
    c.commit()


if __name__ == "__main__":
    main(sys.argv)
