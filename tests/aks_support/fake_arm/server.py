#!/usr/bin/env python3
"""A fake Azure Resource Manager for kat's aks tests (no Azure emulator exists).

  python3 server.py --port 0 --kubeconfig PATH [--subscription S] [--location L ...]
      [--unregistered NS ...] [--latency-scale F] [--polls N] [--principal-delay N]
      [--taken-registry NAME ...] [--login-server HOST:PORT] [--state-file F] [--verbose]

Prints `listening on http://127.0.0.1:<port>` as its first stdout line, then serves until
killed. Python 3.11 standard library only. The contract it follows: the aks contract notes;
NOTES.md says where it differs from it and why.
"""
import argparse
import os
import signal
import sys
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import handler  # noqa: E402
from credentials import DEFAULT_SUBSCRIPTION  # noqa: E402
from families import load_all  # noqa: E402
from state import State  # noqa: E402

DEFAULT_LOCATIONS = ["eastus", "eastus2", "westus2", "westeurope", "northeurope", "uksouth"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--kubeconfig", help="served (renamed) by listClusterUserCredential")
    p.add_argument("--subscription", default=DEFAULT_SUBSCRIPTION)
    p.add_argument("--location", action="append", help="a location the fake offers (repeat)")
    p.add_argument("--unregistered", action="append", default=[],
                   help="a resource provider namespace that starts NotRegistered (repeat)")
    p.add_argument("--latency-scale", type=float, default=None,
                   help="real-world operation durations times this (default: done after "
                   "--polls looks)")
    p.add_argument("--polls", type=int, default=2,
                   help="looks (polls or GETs) an operation takes when no latency is set")
    p.add_argument("--principal-delay", type=int, default=1,
                   help="role assignment PUTs for a new identity refused with PrincipalNotFound "
                   "before it has propagated")
    p.add_argument("--taken-registry", action="append",
                   help="a registry name taken elsewhere in Azure (repeat)")
    p.add_argument("--login-server",
                   help="the loginServer every registry answers (a fake ACR login server, "
                   "fake_acr.py), instead of <name>.azurecr.io")
    p.add_argument("--state-file")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    args.location = args.location or DEFAULT_LOCATIONS
    args.taken_registry = args.taken_registry or ["katregistry", "katacr"]
    return args


def main():
    args = parse_args(sys.argv[1:])
    load_all()
    handler.Handler.state = State(args)
    handler.Handler.verbose = args.verbose
    httpd = ThreadingHTTPServer((args.host, args.port), handler.Handler)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on http://{args.host}:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
