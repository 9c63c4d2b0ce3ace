"""The stand-in's web front (what Unicorn behind nginx answers in the real
container), reading the container's real PostgreSQL and Redis:

- GET /srv/status: 200 "ok" (ForumsController#status); the header
  Discourse-Readonly: true while read-only mode is on
  (app/controllers/forums_controller.rb, lib/discourse.rb readonly keys).
- GET /about.json: {"about": {"version", "stats": {user_count, topic_count,
  post_count}}} (AboutSerializer; the stats from the database).
- GET /t/<slug>/<id>: the topic page, its posts' cooked HTML.
- GET /uploads/default/...: the file under /shared/uploads.
"""

import json
import os
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sql(query, *args):
    argv = ["psql", "-U", "postgres", "-d", "discourse", "-XAtq", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        argv += ["-v", f"a{i}={a}"]
    out = subprocess.run(argv, input=query, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def readonly():
    out = subprocess.run(
        ["redis-cli", "-s", "/run/redis/redis.sock", "exists", "readonly_mode:user"],
        capture_output=True, text=True)
    return out.stdout.strip() == "1"


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if readonly():
            self.send_header("Discourse-Readonly", "true")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        try:
            if path == "/srv/status":
                return self.send(200, "ok")
            if path == "/about.json":
                counts = sql("select (select count(*) from users) || ' ' || (select count(*) from topics) || ' ' || (select count(*) from posts)").split()
                version = os.environ.get("DISCOURSE_VERSION", "").lstrip("v")
                body = {"about": {"version": version, "title": sql("select value from site_settings where name = 'title'"),
                                  "stats": {"user_count": int(counts[0]), "topic_count": int(counts[1]), "post_count": int(counts[2])}}}
                return self.send(200, json.dumps(body), "application/json")
            m = re.fullmatch(r"/t/([a-z0-9-]+)/(\d+)", path)
            if m:
                title = sql("select title from topics where id = :'a0'::int", m.group(2))
                if not title:
                    return self.send(404, "not found")
                cooked = sql("select string_agg(cooked, E'\\n' order by post_number) from posts where topic_id = :'a0'::int", m.group(2))
                return self.send(200, f"<html><head><title>{title}</title></head><body>{cooked}</body></html>", "text/html")
            if path.startswith("/uploads/default/") and ".." not in path:
                f = "/shared" + path
                if os.path.isfile(f):
                    with open(f, "rb") as fh:
                        return self.send(200, fh.read(), "application/octet-stream")
            return self.send(404, "not found")
        except subprocess.CalledProcessError as e:
            return self.send(500, e.stderr or "database error")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
