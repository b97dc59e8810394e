"""The one bearer token the fake ARM server accepts, shared with the fake `az`.

By default it is an unsigned JWT (header.claims.) so that a client can read the caller's `oid`
and `tid` claims as it would from a real Entra token (kat puts the oid in the Key Vault access
policy). `FAKE_AZ_TOKEN` overrides it verbatim, for both sides.
"""
import base64
import json
import os

TENANT = os.environ.get("FAKE_AZ_TENANT", "00000000-0000-0000-0000-0000000a2e7a")
USER_OID = os.environ.get("FAKE_AZ_OID", "00000000-0000-0000-0000-00000000b0b0")
USER_NAME = "kat-tester@example.com"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"


def _b64(obj):
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def default_token():
    # exp far in the future and constant: the token must compare equal on both sides.
    claims = {
        "aud": "https://management.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "oid": USER_OID,
        "tid": TENANT,
        "upn": USER_NAME,
        "exp": 4102444800,
    }
    return _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."


def token():
    return os.environ.get("FAKE_AZ_TOKEN") or default_token()


def claims_of(tok):
    """The claims of a JWT-shaped token, or {} for an opaque one."""
    try:
        payload = tok.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}
