"""Faults the tests queue through /_fake/faults, and the random share of failures.

A queued fault: {"match": regex on "METHOD /path" (no query), "times": N, and one of
  "status": S, "code", "message", "retry_after"  -> that answer instead of the real one
             (with "after": true the request is carried out first: the answer is lost)
  "lro": "Failed", "code", "message"             -> the request is accepted, its long-running
                                                    operation ends Failed with that error}
  "not_found_after_put": true                      -> the first GET after each matching create
                                                    answers 404 (as ARM may, right after a
                                                    create was accepted)
The share ({"share": 0.2, "seed": 1}) answers that part of all ARM calls with 429 or 503.
"""
import re

from errors import DEFAULT_CODES, DEFAULT_MESSAGES, ArmError


def take(state, method, path):
    """The queued fault matching this call (one use of it taken), or None."""
    line = f"{method} {path}"
    for fault in state.faults:
        if fault.get("times", 1) <= 0:
            continue
        if re.search(fault["match"], line, re.IGNORECASE):
            fault["times"] = fault.get("times", 1) - 1
            return fault
    return None


def note_create(state, method, path, status, body):
    """A create matching a not_found_after_put rule: its resource's next GET answers 404."""
    if method != "PUT" or status != 201 or not isinstance(body, dict) or "id" not in body:
        return
    for rule in state.not_found_after_put:
        if rule["times"] > 0 and re.search(rule["match"], f"{method} {path}", re.IGNORECASE):
            rule["times"] -= 1
            state.fresh_puts.add(body["id"].lower())
            return


def fresh(state, rid):
    """True (once) when this GET comes right after a create the 404 rule caught."""
    key = rid.lower()
    if key in state.fresh_puts:
        state.fresh_puts.discard(key)
        return True
    return False


def random_fault(state):
    share = state.share
    if not share or share["rng"].random() >= share["share"]:
        return None
    status = share["rng"].choice([429, 503])
    return {"status": status, "retry_after": 0}


def as_error(fault):
    status = int(fault.get("status", 500))
    headers = {}
    if status in (429, 503) or "retry_after" in fault:
        headers["Retry-After"] = str(fault.get("retry_after", 0))
    return ArmError(
        status,
        fault.get("code") or DEFAULT_CODES.get(status, "Error"),
        fault.get("message") or DEFAULT_MESSAGES.get(status, f"Injected fault ({status})."),
        headers=headers,
    )


def lro_failure(fault):
    return {
        "code": fault.get("code") or "InternalOperationError",
        "message": fault.get("message") or "The operation failed (injected by the test).",
        "status": int(fault.get("status", 500)) if "status" in fault else 500,
    }
