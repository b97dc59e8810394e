"""/_fake: what the tests read and set (not ARM; no auth).

  GET/DELETE /_fake/calls       every ARM call so far {method, path, api_version, status, at}
  GET /_fake/resources          every resource that exists (groups, children, role assignments,
                                soft-deleted vaults) with type, tags and provisioning state
  POST/DELETE /_fake/faults     queue a fault (faults.py), {"share", "seed"}, or
                                {"not_found_after_put": true, "match"}; DELETE clears all
  POST /_fake/latency           {"scale": 0.01} real-world durations x scale; {"scale": 0} or
                                {"polls": N} back to "done after N looks"
  POST /_fake/seed              {"resources": [...], "registry_names_taken": [...],
                                 "server_names_reserved": [...], "principals": [...],
                                 "principal_delay": N}
  POST /_fake/settle            every operation in progress finished now
"""
import lro
from errors import ArmError
from families import typed


def handle(state, method, path, body):
    try:
        route = ROUTES.get((method, path.rstrip("/")))
        if route is None:
            raise ArmError(404, "NoSuchControl", f"No control {method} {path} in the fake.")
        out = route(state, body if body is not None else {})
        state.save()
        return 200, out, {}
    except ArmError as e:
        return e.status, e.body(), {}
    except (KeyError, TypeError, ValueError) as e:
        return 400, {"error": {"code": "BadControl", "message": repr(e)}}, {}


def calls(state, _):
    return state.calls


def clear_calls(state, _):
    state.calls.clear()
    return {"cleared": True}


def resources(state, _):
    lro.tick(state)
    out = [
        {
            "id": r["id"],
            "type": r["type"],
            "tags": r["body"].get("tags", {}),
            "provisioningState": r["state"],
        }
        for r in state.resources.values()
    ]
    for name, v in state.deleted_vaults.items():
        out.append(
            {
                "id": v["id"],
                "type": "Microsoft.KeyVault/deletedVaults",
                "tags": v["properties"].get("tags", {}),
                "provisioningState": "SoftDeleted",
            }
        )
    return sorted(out, key=lambda r: r["id"].lower())


def add_fault(state, body):
    if body.get("not_found_after_put"):
        rule = {"match": body.get("match", "."), "times": int(body.get("times", 1_000_000))}
        state.not_found_after_put.append(rule)
        return rule
    if "share" in body:
        state.set_share(float(body["share"]), body.get("seed", 0))
        return {"share": body["share"]}
    if "match" not in body:
        raise ValueError("a fault needs 'match' (a regex on 'METHOD /path') or 'share'")
    fault = dict(body)
    fault.setdefault("times", 1)
    state.faults.append(fault)
    return fault


def clear_faults(state, _):
    state.faults.clear()
    state.not_found_after_put.clear()
    state.fresh_puts.clear()
    state.set_share(0, 0)
    return {"cleared": True}


def latency(state, body):
    state.latency_scale = float(body.get("scale", 0)) or None
    if "polls" in body:
        state.polls = int(body["polls"])
    return {"scale": state.latency_scale, "polls": state.polls}


def seed(state, body):
    made = []
    for r in body.get("resources", []):
        made.append(seed_resource(state, r))
    state.registry_names_taken |= {n.lower() for n in body.get("registry_names_taken", [])}
    state.server_names_reserved |= {n.lower() for n in body.get("server_names_reserved", [])}
    state.principals |= {p.lower() for p in body.get("principals", [])}
    if "principal_delay" in body:
        state.principal_delay = int(body["principal_delay"])
    return {"seeded": made}


def seed_resource(state, r):
    from families import groups

    rid = r["id"]
    parts = [p for p in rid.split("/") if p]
    if len(parts) == 4 and parts[2].lower() == "resourcegroups":
        groups.create(state, parts[3], r.get("location", state.locations[0]), r.get("tags", {}),
                      r.get("managedBy"))
        return rid
    if len(parts) < 8 or parts[4].lower() != "providers":
        raise ValueError(f"not a resource id: {rid}")
    rg, ns, pairs = parts[3], parts[5], parts[6:]
    type_name = ns + "/" + "/".join(pairs[0::2])
    kind = typed.kind_of(type_name)
    if state.get(state.group_id(rg)) is None:
        raise ValueError(f"seed the group of {rid} first")
    body = {
        "id": rid,
        "name": pairs[-1],
        "type": kind.type if kind else type_name,
        "properties": r.get("properties", {}),
    }
    for key in ("location", "tags", "sku", "identity", "kind"):
        if key in r:
            body[key] = r[key]
    parent = None
    if len(pairs) > 2:
        parent = ("/".join([""] + parts[: 6 + len(pairs) - 2])).lower()
    rec = {
        "id": rid,
        "type": body["type"],
        "group": rg.lower(),
        "parent": parent,
        "body": body,
        "state": "Succeeded",
        "op": None,
    }
    state.put(rec)
    if kind and kind.on_ready:
        kind.on_ready(state, rec)
    return rid


def settle(state, _):
    lro.finish_all(state)
    return {"settled": True}


ROUTES = {
    ("GET", "/_fake/calls"): calls,
    ("DELETE", "/_fake/calls"): clear_calls,
    ("GET", "/_fake/resources"): resources,
    ("POST", "/_fake/faults"): add_fault,
    ("DELETE", "/_fake/faults"): clear_faults,
    ("POST", "/_fake/latency"): latency,
    ("POST", "/_fake/seed"): seed,
    ("POST", "/_fake/settle"): settle,
}

