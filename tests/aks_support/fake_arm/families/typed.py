"""The common life of an ARM resource: PUT (create or update, long-running or not), GET, DELETE
(202 + Location, then gone), child collections, and removal with everything below it.

A family describes its resource types as `Kind`s with hooks for what differs: validation, the
stored body, the rendered body, side effects when a create is accepted or finished, and what
blocks a delete.
"""
import copy
from dataclasses import dataclass
from typing import Callable, Optional

import faults
import lro
from errors import ArmError, group_not_found, not_found
from state import GROUP


@dataclass
class Kind:
    type: str
    api_version: str
    lro: bool = True
    # Listed by GET /subscriptions/{sub}/resources (child resources mostly are not).
    listed: bool = True
    creating: str = "Creating"
    updating: str = "Updating"
    deleting: str = "Deleting"
    delete_sync: bool = False
    needs_location: bool = True
    validate: Optional[Callable] = None  # (state, req, body, existing)
    build: Optional[Callable] = None  # (state, req, body, existing) -> stored body
    render: Optional[Callable] = None  # (state, rec, body) -> body
    after_accept: Optional[Callable] = None  # (state, req, rec, created)
    on_ready: Optional[Callable] = None  # (state, rec)
    before_delete: Optional[Callable] = None  # (state, rec)
    on_removed: Optional[Callable] = None  # (state, rec)
    busy: Optional[Callable] = None  # (state, req, rec) raises while another op runs
    duration: Optional[Callable] = None  # (state, rec, deleting) -> real seconds


KINDS = {}


def register(kind):
    KINDS[kind.type.lower()] = kind
    return kind


def kind_of(type_name):
    return KINDS.get(type_name.lower())


def render(state, rec):
    kind = kind_of(rec["type"])
    body = copy.deepcopy(rec["body"])
    props = body.setdefault("properties", {})
    props["provisioningState"] = rec["state"]
    if kind and kind.render:
        body = kind.render(state, rec, body)
    return body


def require_group(state, rg):
    grp = state.get(state.group_id(rg))
    if grp is None:
        raise group_not_found(rg)
    return grp


def require_writable_group(state, rg):
    grp = require_group(state, rg)
    if grp["state"] == "Deleting":
        raise ArmError(
            409,
            "ResourceGroupBeingDeleted",
            f"The resource group '{rg}' is in deprovisioning state and cannot perform this "
            "operation.",
        )
    return grp


def check_location(state, location, type_name):
    loc = (location or "").lower().replace(" ", "")
    if loc not in state.locations:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type "
            f"'{type_name}'. List of available regions for the resource type is "
            f"'{','.join(state.locations)}'.",
        )


def put(state, req, kind):
    require_writable_group(state, req.rg)
    req.check_registered()
    parent = None
    if req.parent_id:
        parent = state.get(req.parent_id)
        if parent is None or parent["state"] == "Deleting":
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource "
                f"'{req.parent_id.split('/')[-1]}' not found.",
            )
    existing = state.get(req.id)
    if existing is not None and existing["state"] == "Deleting":
        raise ArmError(
            409,
            "OperationNotAllowed" if "containerservice" in kind.type.lower() else "Conflict",
            f"The resource '{req.id}' is being deleted; it cannot be changed until the delete "
            "has finished.",
        )
    if kind.busy:
        kind.busy(state, req, existing)
    body = req.body if isinstance(req.body, dict) else None
    if body is None:
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could "
                       "not be deserialized: a JSON object is expected.")
    if kind.needs_location:
        if "location" not in body:
            raise ArmError(400, "LocationRequired", "The location property is required for "
                           "this definition.")
        if body["location"].lower() != "global":
            check_location(state, body["location"], kind.type)
    if kind.validate:
        kind.validate(state, req, body, existing)
    stored = {
        "id": req.id,
        "name": req.name,
        "type": kind.type,
    }
    if "location" in body:
        stored["location"] = body["location"].lower().replace(" ", "")
    elif parent is not None and "location" in parent["body"]:
        stored["location"] = parent["body"]["location"]
    if "tags" in body:
        stored["tags"] = dict(body.get("tags") or {})
    for key in ("sku", "identity", "kind"):
        if key in body:
            stored[key] = copy.deepcopy(body[key])
    stored["properties"] = copy.deepcopy(body.get("properties") or {})
    op_location = stored.get("location")
    if kind.build:
        stored = kind.build(state, req, body, existing, stored)
    created = existing is None
    rec = existing or {
        "id": req.id,
        "type": kind.type,
        "group": req.rg.lower(),
        "parent": req.parent_id.lower() if req.parent_id else None,
        "state": "Succeeded",
        "op": None,
    }
    rec["body"] = stored
    headers = {}
    if kind.lro:
        seconds = (
            kind.duration(state, rec, False)
            if kind.duration
            else lro.duration(kind.type) * (1 if created else 0.5)
        )
        op = lro.start(
            state, "put", req.id.lower(), req.ns, op_location, seconds, req.lro_fail
        )
        rec["state"] = kind.creating if created else kind.updating
        rec["op"] = op["id"]
        headers = lro.async_headers(state, req.base, op, req.api_version)
    else:
        rec["state"] = "Succeeded"
    state.put(rec)
    if kind.after_accept:
        kind.after_accept(state, req, rec, created)
    return (201 if created else 200), render(state, rec), headers


def finish_put(state, op):
    """The operation's resource, and any made in the same operation (a cluster's inline pools),
    become Succeeded (or Failed)."""
    for rec in [r for r in state.resources.values() if r.get("op") == op["id"]]:
        rec["op"] = None
        if op["status"] == "Succeeded":
            rec["state"] = "Succeeded"
            kind = kind_of(rec["type"])
            if kind and kind.on_ready:
                kind.on_ready(state, rec)
        else:
            rec["state"] = "Failed"


def get(state, req, kind):
    rec = state.get(req.id)
    if rec is None or faults.fresh(state, req.id):
        require_group(state, req.rg)
        raise not_found(req.id, kind.type)
    if rec.get("op"):
        lro.observe(state, rec["op"])
        rec = state.get(req.id)
        if rec is None:
            raise not_found(req.id, kind.type)
    return 200, render(state, rec), {}


def delete(state, req, kind):
    rec = state.get(req.id)
    if rec is None:
        return 204, None, {}
    if rec["state"] == "Deleting" and rec.get("op"):
        op = state.ops[rec["op"]]
        return 202, None, lro.location_headers(state, req.base, op, req.api_version)
    if kind.busy:
        kind.busy(state, req, rec)
    if kind.before_delete:
        kind.before_delete(state, rec)
    if kind.delete_sync:
        body = render(state, rec)
        remove(state, rec)
        return 200, body, {}
    seconds = kind.duration(state, rec, True) if kind.duration else lro.duration(kind.type, True)
    location = rec["body"].get("location")
    if location is None and rec.get("parent") and state.get(rec["parent"]):
        location = state.get(rec["parent"])["body"].get("location")
    op = lro.start(state, "delete", rec["id"].lower(), req.ns, location, seconds, req.lro_fail)
    rec["state"] = "Deleting"
    rec["op"] = op["id"]
    return 202, None, lro.location_headers(state, req.base, op, req.api_version)


def finish_delete(state, op):
    rec = state.get(op["key"])
    if rec is None:
        return
    if op["status"] == "Succeeded":
        remove(state, rec)
    else:
        rec["op"] = None
        rec["state"] = "Failed"


def remove(state, rec):
    """Takes a resource away with everything below it (children, role assignments on it)."""
    key = rec["id"].lower()
    for child in state.children(key):
        remove(state, child)
    for ra in list(state.resources.values()):
        scope = ra.get("scope")
        if scope and (scope == key or scope.startswith(key + "/")):
            state.resources.pop(ra["id"].lower(), None)
    state.resources.pop(key, None)
    kind = kind_of(rec["type"])
    if kind and kind.on_removed:
        kind.on_removed(state, rec)


def list_children(state, req, child_type):
    parent = state.get(req.id)
    if parent is None:
        require_group(state, req.rg)
        raise not_found(req.id, req.type)
    t = child_type.lower()
    return 200, {
        "value": [render(state, r) for r in state.children(req.id) if r["type"].lower() == t]
    }, {}


def generic(rec):
    """A resource as GET /resources lists it."""
    body = rec["body"]
    out = {"id": rec["id"], "name": body.get("name"), "type": rec["type"]}
    for key in ("location", "tags", "sku", "kind", "managedBy", "identity"):
        if key in body:
            out[key] = body[key]
    return out


def listed(rec):
    kind = kind_of(rec["type"])
    return rec["type"] != GROUP and (kind is None or kind.listed)


lro.EFFECTS["put"] = finish_put
lro.EFFECTS["delete"] = finish_delete
