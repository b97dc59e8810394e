#!/usr/bin/env python3
"""A fake ACR login server for kat's aks tests: ACR's token exchange in front of a real registry.

  python3 fake_acr.py --port 0 --backend HOST:PORT --entra-token TOKEN
                      [--access-life SECONDS] [--slow-put SECONDS]

POST /oauth2/exchange (grant_type=access_token, service, access_token[, tenant]) answers a
refresh token when access_token is the Entra token given; POST /oauth2/token (grant_type=
refresh_token, service, scope=repository:<repo>:<actions>, refresh_token) answers an access token
for that one repository. /v2/... is forwarded to the backend registry (a docker-registry without
auth) only with `Authorization: Bearer <an access token for the repository in the path>`; else
401 with ACR's Bearer challenge. Access tokens last 75 minutes, or --access-life seconds (an
expired one is refused as ACR refuses it); --slow-put holds every PUT that long before its token
is checked (a large upload, in little time). GET /_fake/log lists what was asked (no token
values).
Prints `listening on http://127.0.0.1:<port>` first. Python standard library only.
"""
import argparse
import base64
import http.client
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
REFRESH = set()
ACCESS = {}  # token -> repository
LOG = []


def jwt(claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{enc({'alg': 'none'})}.{enc(claims)}.{secrets.token_hex(8)}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def form(self):
        if "x-www-form-urlencoded" not in (self.headers.get("Content-Type") or ""):
            return None
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body().decode()).items()}

    def do_POST(self):
        if self.path == "/oauth2/exchange":
            f = self.form()
            ok = (f and f.get("grant_type") == "access_token"
                  and f.get("service") == self.server.service
                  and f.get("access_token") == self.server.entra)
            LOG.append({"path": self.path, "ok": bool(ok)})
            if not ok:
                return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            token = jwt({"exp": int(time.time()) + 3 * 3600, "kind": "refresh"})
            with LOCK:
                REFRESH.add(token)
            return self.answer(200, json.dumps({"refresh_token": token}).encode())
        if self.path == "/oauth2/token":
            f = self.form() or {}
            scope = f.get("scope", "")
            ok = (f.get("grant_type") == "refresh_token" and f.get("refresh_token") in REFRESH
                  and f.get("service") == self.server.service and scope.startswith("repository:"))
            repo = scope.split(":")[1] if ok else None
            LOG.append({"path": self.path, "ok": bool(ok), "scope": scope})
            if not ok:
                return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            exp = time.time() + self.server.access_life
            token = jwt({"exp": int(exp), "repo": repo})
            with LOCK:
                ACCESS[token] = (repo, exp)
            return self.answer(200, json.dumps({"access_token": token}).encode())
        return self.forward("POST")

    def do_GET(self):
        if self.path == "/_fake/log":
            return self.answer(200, json.dumps(LOG).encode())
        return self.forward("GET")

    def do_HEAD(self):
        return self.forward("HEAD")

    def do_PUT(self):
        return self.forward("PUT")

    def do_PATCH(self):
        return self.forward("PATCH")

    def forward(self, method):
        if not self.path.startswith("/v2/"):
            return self.answer(404)
        body = self.body() if method in ("POST", "PUT", "PATCH") else b""
        if method == "PUT" and self.server.slow_put:
            time.sleep(self.server.slow_put)
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        repo, exp = ACCESS.get(token, (None, 0))
        expired = token in ACCESS and time.time() > exp
        path = self.path.split("?")[0]
        allowed = not expired and (path == "/v2/" and token in ACCESS or (
            repo is not None and path.startswith(f"/v2/{repo}/")))
        LOG.append({"path": path, "method": method, "bearer": token is not None,
                    "allowed": bool(allowed), "expired": expired})
        if not allowed:
            challenge = (f'Bearer realm="http://{self.server.service}/oauth2/token",'
                         f'service="{self.server.service}"')
            return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                               [("WWW-Authenticate", challenge),
                                ("Docker-Distribution-Api-Version", "registry/2.0")])
        conn = http.client.HTTPConnection(self.server.backend, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("authorization", "connection", "content-length", "host")}
        headers["Host"] = self.server.service
        if body or method in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn.request(method, self.path, body=body or None, headers=headers)
        res = conn.getresponse()
        data = res.read()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        length = res.getheader("Content-Length") if method == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--backend", required=True)
    p.add_argument("--entra-token", required=True)
    p.add_argument("--access-life", type=float, default=75 * 60)
    p.add_argument("--slow-put", type=float, default=0)
    a = p.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    httpd.daemon_threads = True
    httpd.backend = a.backend
    httpd.entra = a.entra_token
    httpd.access_life = a.access_life
    httpd.slow_put = a.slow_put
    httpd.service = f"127.0.0.1:{httpd.server_address[1]}"
    print(f"listening on http://{httpd.service}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
