"""HTTP plumbing: one request in, one JSON answer out, every call logged for the tests."""
import json
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import arm
import controls
from errors import ArmError

# /_vault/<name>/... is served by the Key Vault family (registered at import).
DATA_PLANES = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK cost ~40 ms a
    # call on keep-alive connections.
    disable_nagle_algorithm = True
    server_version = "fake-arm/1"
    state = None  # set by server.py
    verbose = False

    def do_GET(self):
        self.answer()

    do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, fmt, *args):
        if self.verbose:
            super().log_message(fmt, *args)

    def answer(self):
        url = urlsplit(self.path)
        raw = self.read_body()
        state = self.state
        with state.lock:
            status, body, headers = self.dispatch(state, url, raw)
            if not url.path.startswith("/_fake/"):
                req_version = dict(
                    p.split("=", 1) for p in url.query.split("&") if "=" in p
                ).get("api-version")
                state.log_call(self.command, url.path, req_version, status)
                if self.command != "GET":
                    state.save()
        self.send(status, body, headers)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()  # the blank line after the last chunk
                    return raw
                raw += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def dispatch(self, state, url, raw):
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            err = ArmError(400, "InvalidRequestContent", f"The request content was invalid and "
                           f"could not be deserialized: {e}.")
            return err.status, err.body(), {}
        if url.path.startswith("/_fake/"):
            return controls.handle(state, self.command, url.path, body)
        base = f"http://{self.headers.get('Host') or self.server.server_address[0]}"
        req = arm.Req(state, self.command, url.path, url.query, body, base, self.headers)
        try:
            if url.path.startswith("/_vault/"):
                return DATA_PLANES["vault"](state, req)
            return arm.handle(state, req)
        except ArmError as e:
            return e.status, e.body(), e.headers

    def send(self, status, body, headers):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
