#!/usr/bin/env python3
"""Stand-in for Mastodon's web and streaming processes (the real server
cannot be downloaded in the lab). It serves the same health endpoints from
the same files and database a from-source install has: /health,
/api/v1/streaming/health, and /api/v1/instance with the version from
lib/mastodon/version.rb (with Hometown's suffix when it defines one), LOCAL_DOMAIN from .env.production and the user
count from the database; 503 when the database cannot be queried."""
import json, os, re, subprocess, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.abspath(__file__))


def env():
    out = {}
    with open(os.path.join(ROOT, ".env.production")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


def version():
    text = open(os.path.join(ROOT, "lib/mastodon/version.rb")).read()
    part = lambda n: re.search(r"def %s\s+(\d+)" % n, text).group(1)
    v = "%s.%s.%s" % (part("major"), part("minor"), part("patch"))
    # Hometown's version.rb appends +hometown-X.Y.Z (lib/mastodon/version.rb)
    hometown = re.search(r"def hometown_version\s+'([^']+)'", text)
    return v + "+" + hometown.group(1) if hometown else v


def users(e):
    out = subprocess.run(
        ["psql", "-X", "-Atqd", e["DB_NAME"], "-U", e["DB_USER"], "-c",
         "select count(*) from accounts where domain is null"],
        capture_output=True, text=True, cwd="/", timeout=10)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return int(out.stdout.strip())


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            e = env()
            n = users(e)
            v = version()
        except Exception as ex:
            return self.send(503, {"error": str(ex)})
        host = (self.headers.get("Host") or "").split(":")[0]
        if host != e.get("WEB_DOMAIN", e.get("LOCAL_DOMAIN")):
            return self.send(403, {"error": "Blocked host: " + host})
        if self.path in ("/health", "/api/v1/streaming/health"):
            return self.send(200, "OK", "text/plain")
        if self.path.startswith("/api/v1/instance"):
            return self.send(200, {"uri": e["LOCAL_DOMAIN"], "version": v, "stats": {"user_count": n}})
        self.send(404, {"error": "Record not found"})

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    addr, port = sys.argv[1].rsplit(":", 1)
    ThreadingHTTPServer((addr, int(port)), Handler).serve_forever()
