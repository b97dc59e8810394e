"""Role assignments, 2022-04-01: extension resources at any scope, synchronous.

As in Azure: the name must be a GUID; the principal must exist in the directory, and a principal
the fake made (an AKS identity) is refused with PrincipalNotFound for its first
--principal-delay assignments (replication delay); the same scope + role + principal under
another name is 409 RoleAssignmentExists; properties cannot be changed; assignments go with the
resource (or group) they sit on; list with $filter=principalId eq '...' or atScope().
"""
import re
import time

import lro
from credentials import TENANT
from errors import ArmError, bad_request, group_of
from families import typed

API = "2022-04-01"
ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)


def handle(state, req, scope, rest):
    if not rest or rest[0].lower() != "roleassignments" or len(rest) > 2:
        raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake.")
    req.expect_version(API, ASSIGNMENT)
    check_scope(state, scope)
    if len(rest) == 1:
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
        return list_at(state, req, scope)
    name = rest[1]
    rid = f"{scope}/providers/{ASSIGNMENT}/{name}"
    if req.method == "PUT":
        return put(state, req, scope, name, rid)
    rec = state.get(rid)
    if req.method == "GET":
        if rec is None:
            raise ArmError(404, "RoleAssignmentNotFound",
                           f"The role assignment '{name}' is not found.")
        return 200, render(rec), {}
    if req.method == "DELETE":
        if rec is None:
            return 204, None, {}
        state.resources.pop(rid.lower())
        return 200, render(rec), {}
    raise ArmError(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")


def check_scope(state, scope):
    parts = [p for p in scope.split("/") if p]
    if len(parts) == 2:
        return
    rg = group_of(scope)
    typed.require_group(state, rg)
    if len(parts) > 4 and state.get(scope) is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{'/'.join(parts[5:])}' under resource group '{rg}' was not found.",
        )


def known_principal(state, req, principal):
    p = principal.lower()
    caller = (req.claims.get("oid") or "").lower()
    return p == caller or p in state.principals


def put(state, req, scope, name, rid):
    if not GUID.match(name):
        raise bad_request(
            f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
            "InvalidRoleAssignmentId",
        )
    props = (req.body or {}).get("properties") or {}
    role, principal = props.get("roleDefinitionId"), props.get("principalId")
    if not role or not principal:
        raise bad_request("properties.roleDefinitionId and properties.principalId are required.",
                          "InvalidRoleAssignmentRequest")
    existing = state.get(rid)
    if existing is not None:
        old = existing["body"]["properties"]
        if (old["principalId"].lower(), old["roleDefinitionId"].lower()) != (
            principal.lower(), role.lower()
        ):
            raise bad_request(
                "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                "updated.",
                "RoleAssignmentUpdateNotPermitted",
            )
        return 201, render(existing), {}
    for r in state.of_type(ASSIGNMENT):
        p = r["body"]["properties"]
        if (r["scope"], p["principalId"].lower(), p["roleDefinitionId"].lower()) == (
            scope.lower(), principal.lower(), role.lower()
        ):
            raise ArmError(
                409,
                "RoleAssignmentExists",
                f"The role assignment already exists. The ID of the existing role assignment is "
                f"{r['body']['name']}.",
            )
    refused = state.principal_attempts.get(principal.lower(), 0)
    if not known_principal(state, req, principal) or refused < state.principal_delay:
        state.principal_attempts[principal.lower()] = refused + 1
        raise bad_request(
            f"Principal {principal.replace('-', '')} does not exist in the directory {TENANT}. "
            "Check that you have the correct principal ID. If you are creating this principal "
            "and then immediately assigning a role, this error might be related to a "
            "replication delay. In this case, set the role assignment principalType property "
            "to a value, such as ServicePrincipal, User, or Group. See "
            "https://aka.ms/docs-principaltype",
            "PrincipalNotFound",
        )
    now = lro.now_iso(time.time())
    rec = {
        "id": rid,
        "type": ASSIGNMENT,
        "group": (group_of(scope) or "").lower() or None,
        "parent": None,
        "scope": scope.lower(),
        "state": "Succeeded",
        "op": None,
        "body": {
            "id": rid,
            "name": name,
            "type": ASSIGNMENT,
            "properties": {
                "roleDefinitionId": role,
                "principalId": principal,
                "principalType": props.get("principalType", "User"),
                "scope": scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": now,
                "updatedOn": now,
                "createdBy": req.claims.get("oid"),
                "updatedBy": req.claims.get("oid"),
                "delegatedManagedIdentityResourceId": None,
                "description": props.get("description"),
            },
        },
    }
    state.put(rec)
    return 201, render(rec), {}


def render(rec):
    return dict(rec["body"])


def list_at(state, req, scope):
    flt = req.query.get("$filter")
    principal = None
    at_scope = False
    if flt:
        m = PRINCIPAL_FILTER.match(flt)
        if m:
            principal = m.group(1).lower()
        elif flt.strip().lower() == "atscope()":
            at_scope = True
        else:
            raise bad_request(f"Unsupported $filter '{flt}' in the fake.", "UnsupportedQuery")
    low = scope.lower()
    out = []
    for r in state.of_type(ASSIGNMENT):
        s = r["scope"]
        above_or_at = low == s or low.startswith(s + "/")
        below = s.startswith(low + "/")
        if not (above_or_at or (below and not at_scope)):
            continue
        if principal and r["body"]["properties"]["principalId"].lower() != principal:
            continue
        out.append(render(r))
    return 200, {"value": out}, {}


typed.register(typed.Kind(type=ASSIGNMENT, api_version=API, lro=False, listed=False))
