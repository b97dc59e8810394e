"""Long-running operations as ARM defines them.

A PUT that starts work answers 201/200 with `Azure-AsyncOperation` (an operation status URL that
says InProgress, then Succeeded or Failed with `error`); a DELETE answers 202 with `Location` (an
operation result URL that answers 202 while the work runs, then 204, or the error). Both carry
`Retry-After`.

An operation finishes either after N observations (default 2: polls of its URL or GETs of its
resource), or, when the latency profile is on, after the real-world duration of its kind times the
scale, whoever looks.
"""
import datetime
import math
import time
import uuid

# Real-world durations in seconds (create, delete), by lower-cased resource type.
DURATIONS = {
    "microsoft.containerservice/managedclusters": (360, 300),
    "microsoft.containerservice/managedclusters/agentpools": (240, 180),
    "microsoft.containerregistry/registries": (30, 20),
    "microsoft.dbforpostgresql/flexibleservers": (480, 240),
    "microsoft.dbforpostgresql/flexibleservers/databases": (20, 20),
    "microsoft.network/virtualnetworks": (10, 10),
    "microsoft.network/virtualnetworks/subnets": (5, 5),
    "microsoft.network/privatednszones": (30, 30),
    "microsoft.network/privatednszones/virtualnetworklinks": (30, 30),
    "microsoft.keyvault/vaults": (20, 0),
    "microsoft.resources/resourcegroups": (0, 15),
    "register": (30, 0),
    "purge": (20, 0),
}

# What completing an operation does, by op["effect"]; filled in by the families.
EFFECTS = {}


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def duration(type_name, deleting=False):
    create, delete = DURATIONS.get(type_name.lower(), (10, 10))
    return delete if deleting else create


def start(state, effect, key, ns, location, real_seconds, fail=None, extra=None):
    """Registers an operation on resource `key` (lower-cased id, or a name for registrations)."""
    op_id = str(uuid.uuid4())
    op = {
        "id": op_id,
        "effect": effect,
        "key": key,
        "ns": ns,
        "location": (location or "global").lower().replace(" ", ""),
        "status": "InProgress",
        "started": time.time(),
        "ended": None,
        "polls_left": state.polls,
        "done_at": None,
        "fail": fail,
        "extra": extra or {},
    }
    if state.latency_scale:
        op["done_at"] = op["started"] + real_seconds * state.latency_scale
    state.ops[op_id] = op
    return op


def retry_after(state, op):
    if op["status"] != "InProgress" or not op["done_at"]:
        return "0"
    remaining = op["done_at"] - time.time()
    # Never more than what is left: a poller that follows it is not made late by it.
    return str(max(0, min(30, math.floor(remaining))))


def observe(state, op_id):
    """One look at an operation: it may finish on this look."""
    op = state.ops.get(op_id)
    if op is None or op["status"] != "InProgress":
        return op
    if op["done_at"] is not None:
        if time.time() >= op["done_at"]:
            complete(state, op)
    else:
        op["polls_left"] -= 1
        if op["polls_left"] <= 0:
            complete(state, op)
    return op


def tick(state):
    """Finishes every timed operation whose time has come (called on every request)."""
    due = [
        op
        for op in state.ops.values()
        if op["status"] == "InProgress" and op["done_at"] is not None and time.time() >= op["done_at"]
    ]
    for op in sorted(due, key=lambda o: o["done_at"]):
        if op["status"] == "InProgress":
            complete(state, op)


def complete(state, op):
    op["status"] = "Failed" if op["fail"] else "Succeeded"
    op["ended"] = time.time()
    EFFECTS[op["effect"]](state, op)


def finish_all(state):
    """Every operation done now (the /_fake/settle control)."""
    for op in list(state.ops.values()):
        if op["status"] == "InProgress":
            complete(state, op)


def status_url(state, base, op, api_version):
    return (
        f"{base}/subscriptions/{state.subscription}/providers/{op['ns']}/locations/"
        f"{op['location']}/operationStatuses/{op['id']}?api-version={api_version}"
    )


def result_url(state, base, op, api_version):
    if op["effect"] == "group_delete":
        # ARM's own shape for resource group deletes.
        return (
            f"{base}/subscriptions/{state.subscription}/operationresults/{op['id']}"
            f"?api-version={api_version}"
        )
    return (
        f"{base}/subscriptions/{state.subscription}/providers/{op['ns']}/locations/"
        f"{op['location']}/operationResults/{op['id']}?api-version={api_version}"
    )


def async_headers(state, base, op, api_version):
    return {
        "Azure-AsyncOperation": status_url(state, base, op, api_version),
        "Retry-After": retry_after(state, op),
    }


def location_headers(state, base, op, api_version):
    return {
        "Location": result_url(state, base, op, api_version),
        "Retry-After": retry_after(state, op),
    }


def status_body(state, op):
    body = {
        "id": f"/subscriptions/{state.subscription}/providers/{op['ns']}/locations/"
        f"{op['location']}/operationStatuses/{op['id']}",
        "name": op["id"],
        "status": op["status"],
        "startTime": now_iso(op["started"]),
    }
    if op["ended"]:
        body["endTime"] = now_iso(op["ended"])
    if op["status"] == "Failed":
        body["error"] = {"code": op["fail"]["code"], "message": op["fail"]["message"]}
    return body


def stable_version(name, at):
    """A secret version id (32 hex characters, as Key Vault's)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{at}/{time.time_ns()}").hex
