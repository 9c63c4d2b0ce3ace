#!/usr/bin/env python3
"""Stand-in for Nextcloud's web front (the real server cannot be downloaded
in the lab). It serves the same health endpoints from the same files and
database a real install has: /status.php from version.php and
config/config.php, and answers 503 when the database named in config.php
cannot be queried. The Host header must be one of config.php's
trusted_domains, as Nextcloud requires."""
import json, os, re, subprocess, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.abspath(__file__))


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def config():
    text = read("config/config.php")
    cfg = dict(re.findall(r"'([\w.-]+)'\s*=>\s*'([^']*)'", text))
    for k, v in re.findall(r"'([\w.-]+)'\s*=>\s*(true|false)", text):
        cfg[k] = v == "true"
    cfg["trusted"] = re.findall(r"\d+\s*=>\s*'([^']*)'", text)
    return cfg


def version():
    text = read("version.php")
    parts = re.search(r"\$OC_Version\s*=\s*array\(([^)]*)\)", text).group(1)
    vs = re.search(r"\$OC_VersionString\s*=\s*'([^']+)'", text).group(1)
    return ".".join(p.strip() for p in parts.split(",")), vs


def users(cfg):
    dbname = cfg["dbname"]
    if cfg.get("dbtype") == "mysql":
        # As Nextcloud does: the app's own account and password, here over
        # the MariaDB socket shared into this container.
        password = cfg.get("dbpassword", "")
        if not password and os.path.exists("/run/secrets/db_password"):
            # Co-op Cloud hands the password in as a swarm secret.
            with open("/run/secrets/db_password") as f:
                password = f.read().strip()
        env = dict(os.environ, MYSQL_PWD=password)
        argv = ["mysql", "-u", cfg["dbuser"], "-N", "-B", "-D", dbname, "-e", "select count(*) from oc_users"]
    else:
        env = None
        argv = ["runuser", "-u", "postgres", "--", "psql", "-X", "-Atqd", dbname, "-c", "select count(*) from oc_users"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=10, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return int(out.stdout.strip())


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            cfg = config()
            host = (self.headers.get("Host") or "").split(":")[0]
            if host not in cfg["trusted"]:
                return self.send(400, {"error": "Access through untrusted domain", "host": host})
            v, vs = version()
            n = users(cfg)
        except Exception as e:  # the database or a file is missing
            return self.send(503, {"error": str(e)})
        if self.path.startswith("/status.php"):
            return self.send(200, {
                "installed": cfg.get("installed", False), "maintenance": cfg.get("maintenance", False),
                "needsDbUpgrade": cfg.get("version") != v, "version": v, "versionstring": vs,
                "edition": "", "productname": "Nextcloud", "extendedSupport": False})
        if self.path.startswith("/ocs/v2.php/cloud/capabilities"):
            major = int(v.split(".")[0])
            return self.send(200, {"ocs": {"meta": {"status": "ok"}, "data": {
                "version": {"major": major, "string": vs}, "users": n}}})
        self.send(404, {"error": "not found"})

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    # status.py ADDRESS:PORT [CERT.pem KEY.pem]: with a certificate, HTTPS
    # (the web server's TLS in front of Nextcloud).
    addr, port = sys.argv[1].rsplit(":", 1)
    server = ThreadingHTTPServer((addr, int(port)), Handler)
    if len(sys.argv) == 4:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
