"""Resource groups (synchronous PUT, asynchronous DELETE that takes everything in the group with
it) and the tag-filtered listings of groups and resources kat's stateless `down` relies on."""
import re

import faults
import lro
from errors import ArmError, group_not_found
from families import typed
from state import GROUP

API = "2021-04-01"


def body(state, rec):
    out = dict(rec["body"])
    out["properties"] = {"provisioningState": rec["state"]}
    return out


def get(state, req, name):
    req.expect_version(API, "resourceGroups")
    rec = state.get(state.group_id(name))
    if rec is None or faults.fresh(state, state.group_id(name)):
        raise group_not_found(name)
    if rec.get("op"):
        lro.observe(state, rec["op"])
        rec = state.get(state.group_id(name))
        if rec is None:
            raise group_not_found(name)
    if req.method == "HEAD":
        return 204, None, {}
    return 200, body(state, rec), {}


def put(state, req, name):
    req.expect_version(API, "resourceGroups")
    data = req.body if isinstance(req.body, dict) else {}
    if "location" not in data:
        raise ArmError(400, "LocationRequired", "The location property is required for this "
                       "definition.")
    typed.check_location(state, data["location"], GROUP)
    rec = state.get(state.group_id(name))
    if rec is not None and rec["state"] == "Deleting":
        raise ArmError(
            409,
            "ResourceGroupBeingDeleted",
            f"The resource group '{name}' is in deprovisioning state and cannot perform this "
            "operation.",
        )
    if rec is not None and rec["body"].get("managedBy"):
        raise ArmError(
            409,
            "ResourceGroupManagedByAks",
            f"The resource group '{name}' is managed by '{rec['body']['managedBy']}' (an AKS "
            "node resource group) and cannot be changed by a PUT.",
        )
    if rec is not None and rec["body"]["location"] != data["location"].lower().replace(" ", ""):
        raise ArmError(
            409,
            "InvalidResourceGroupLocation",
            f"Invalid resource group location '{data['location']}'. The Resource group already "
            f"exists in location '{rec['body']['location']}'.",
        )
    created = rec is None
    rec = create(state, name, data["location"], data.get("tags") or {}, data.get("managedBy"))
    return (201 if created else 200), body(state, rec), {}


def create(state, name, location, tags, managed_by=None):
    rid = state.group_id(name)
    old = state.get(rid)
    rec = old or {"id": rid, "type": GROUP, "group": name.lower(), "parent": None, "op": None}
    rec["state"] = "Succeeded"
    # ARM keeps the case of the first creation.
    rec["body"] = {
        "id": rec["id"],
        "name": rec["id"].split("/")[-1],
        "type": GROUP,
        "location": location.lower().replace(" ", ""),
        "tags": dict(tags),
    }
    if managed_by:
        rec["body"]["managedBy"] = managed_by
    state.put(rec)
    return rec


def delete(state, req, name):
    req.expect_version(API, "resourceGroups")
    rec = state.get(state.group_id(name))
    if rec is None:
        raise group_not_found(name)
    if rec["state"] == "Deleting" and rec.get("op"):
        op = state.ops[rec["op"]]
    else:
        op = lro.start(
            state, "group_delete", rec["id"].lower(), "Microsoft.Resources",
            rec["body"]["location"], lro.duration(GROUP, True), req.lro_fail,
        )
        rec["state"] = "Deleting"
        rec["op"] = op["id"]
        # Everything in the group goes into Deleting with it.
        for r in state.in_group(name):
            r["state"] = "Deleting"
    return 202, None, lro.location_headers(state, req.base, op, API)


def finish_group_delete(state, op):
    rec = state.get(op["key"])
    if rec is None:
        return
    if op["status"] != "Succeeded":
        rec["state"] = "Failed"
        rec["op"] = None
        return
    for r in state.in_group(rec["body"]["name"]):
        if state.get(r["id"]) is not None:
            typed.remove(state, r)
    typed.remove(state, rec)


def operation_result(state, req, op_id):
    """GET /subscriptions/{sub}/operationresults/{id}: a group delete's Location."""
    op = lro.observe(state, op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    if op["status"] == "InProgress":
        return 202, None, lro.location_headers(state, req.base, op, API)
    if op["status"] == "Failed":
        raise ArmError(op["fail"]["status"], op["fail"]["code"], op["fail"]["message"])
    return 200, None, {}


# $filter=tagName eq 'k' and tagValue eq 'v' (or tagName eq 'k' alone), as ARM takes it.
FILTER = re.compile(
    r"^\s*tagName\s+eq\s+'(?P<name>[^']*)'\s*(?:and\s+tagValue\s+eq\s+'(?P<value>[^']*)'\s*)?$",
    re.IGNORECASE,
)


def tag_matcher(req):
    flt = req.query.get("$filter")
    if flt is None:
        return lambda tags: True
    m = FILTER.match(flt)
    if not m:
        raise ArmError(
            400,
            "InvalidFilterInQueryString",
            f"Invalid $filter '{flt}' specified in the query string.",
        )
    name, value = m.group("name").lower(), m.group("value")

    def matches(tags):
        for k, v in (tags or {}).items():
            if k.lower() == name and (value is None or v == value):
                return True
        return False

    return matches


def list_groups(state, req):
    req.expect_version(API, "resourceGroups")
    match = tag_matcher(req)
    groups = [r for r in state.resources.values() if r["type"] == GROUP]
    return 200, {
        "value": [body(state, g) for g in groups if match(g["body"].get("tags"))]
    }, {}


def list_resources(state, req, group=None):
    req.expect_version(API, "resources")
    if group is not None:
        typed.require_group(state, group)
    match = tag_matcher(req)
    out = []
    for rec in state.resources.values():
        if not typed.listed(rec):
            continue
        if group is not None and rec["group"] != group.lower():
            continue
        if match(rec["body"].get("tags")):
            out.append(typed.generic(rec))
    return 200, {"value": out}, {}


lro.EFFECTS["group_delete"] = finish_group_delete
