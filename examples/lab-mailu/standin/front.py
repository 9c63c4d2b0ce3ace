#!/usr/bin/python3
"""The stand-in front: Mailu's nginx answers GET /health with 204
(core/nginx/conf/nginx.conf, `location /health { return 204; }`). Mail
ports are served by the imap and smtp services themselves here."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Front(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(204 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer((os.environ["MAILU_ADDR"], int(os.environ["FRONT_PORT"])), Front).serve_forever()
