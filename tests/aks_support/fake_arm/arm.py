"""The ARM front door: bearer auth, the one subscription, faults, api-version checks, and routing
of /subscriptions/... paths to the resource families.

A handler returns (status, body or None, headers) or raises ArmError.
"""
from urllib.parse import parse_qs

import faults
import lro
from credentials import claims_of, token
from errors import ArmError
from families import authz, groups, providers, typed

# Sub-level paths below /subscriptions/{sub}/providers/{ns}/...: (ns, first segment) -> handler
# (state, req, rest) where rest is the segments after the namespace.
PROVIDER_ROUTES = {}
# POST actions on a resource: (lower type, lower action) -> handler (state, req, kind).
ACTIONS = {}


class Req:
    def __init__(self, state, method, path, query, body, base, headers):
        self.state = state
        self.method = method
        self.path = path
        self.query = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        self.api_version = self.query.get("api-version")
        self.body = body
        self.base = base
        self.headers = headers
        self.claims = {}
        self.lro_fail = None
        # Set by the router for a typed resource path.
        self.rg = self.ns = self.type = self.name = self.id = self.parent_id = None

    def expect_version(self, version, what):
        if not self.api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if self.api_version != version:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location 'global' and API version "
                f"'{self.api_version}' for type '{what}'. The supported api-versions are "
                f"'{version}' (in this fake).",
            )

    def check_registered(self):
        providers.require_registered(self.state, self.ns)


def authenticate(req):
    auth = req.headers.get("Authorization")
    if not auth:
        raise ArmError(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
            "missing."
        )
    scheme, _, tok = auth.partition(" ")
    if scheme.lower() != "bearer" or tok != token():
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid (not the one the fake az hands out).",
        )
    req.claims = claims_of(tok)


def handle(state, req):
    """Answers one ARM call (the caller holds the state lock)."""
    lro.tick(state)
    authenticate(req)
    segs = [s for s in req.path.split("/") if s]
    if len(segs) < 2 or segs[0].lower() != "subscriptions":
        raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake ARM.")
    if segs[1].lower() != state.subscription.lower():
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{segs[1]}' could not be "
                       "found.")
    fault = faults.take(state, req.method, req.path) or faults.random_fault(state)
    after = None
    if fault:
        if fault.get("lro"):
            req.lro_fail = faults.lro_failure(fault)
        elif fault.get("after"):
            after = faults.as_error(fault)
        else:
            raise faults.as_error(fault)
    answer = route(state, req, segs)
    faults.note_create(state, req.method, req.path, answer[0], answer[1])
    if after:
        raise after
    return answer


def route(state, req, segs):
    low = [s.lower() for s in segs]
    # Role assignments are extension resources: they sit below any scope.
    for i in range(2, len(low) - 1):
        if low[i] == "providers" and low[i + 1] == "microsoft.authorization":
            return authz.handle(state, req, "/" + "/".join(segs[:i]), segs[i + 2:])
    rest, low_rest = segs[2:], low[2:]
    m = req.method
    if not rest:
        return only(m, "GET", lambda: providers.subscription(state, req))
    head = low_rest[0]
    if head == "providers" and len(rest) >= 2:
        return provider_route(state, req, rest, low_rest)
    if head == "operationresults" and len(rest) == 2:
        return only(m, "GET", lambda: groups.operation_result(state, req, rest[1]))
    if head == "resources" and len(rest) == 1:
        return only(m, "GET", lambda: groups.list_resources(state, req))
    if head == "resourcegroups":
        if len(rest) == 1:
            return only(m, "GET", lambda: groups.list_groups(state, req))
        rg = rest[1]
        if len(rest) == 2:
            table = {
                "GET": groups.get,
                "HEAD": groups.get,
                "PUT": groups.put,
                "DELETE": groups.delete,
            }
            if m not in table:
                raise method_not_allowed(m)
            return table[m](state, req, rg)
        if low_rest[2] == "resources" and len(rest) == 3:
            return only(m, "GET", lambda: groups.list_resources(state, req, rg))
        if low_rest[2] == "providers" and len(rest) >= 6:
            return resource_route(state, req, rg, rest[3], rest[4:])
    raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake ARM.")


def provider_route(state, req, rest, low_rest):
    ns = rest[1]
    m = req.method
    if len(rest) == 2:
        return only(m, "GET", lambda: providers.provider(state, req, ns))
    if len(rest) == 3 and low_rest[2] == "register":
        return only(m, "POST", lambda: providers.register(state, req, ns))
    if len(rest) == 6 and low_rest[2] == "locations":
        kind = low_rest[4]
        if kind in ("operationstatuses", "azureasyncoperation"):
            return only(m, "GET", lambda: operation_status(state, req, rest[5]))
        if kind == "operationresults":
            return only(m, "GET", lambda: operation_result(state, req, rest[5]))
    handler = PROVIDER_ROUTES.get((low_rest[1], low_rest[2]))
    if handler is None and len(rest) > 4 and low_rest[2] == "locations":
        handler = PROVIDER_ROUTES.get((low_rest[1], "locations/" + low_rest[4]))
    if handler is None:
        raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake ARM.")
    return handler(state, req, rest[2:])


def operation_status(state, req, op_id):
    op = lro.observe(state, op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    headers = {"Retry-After": lro.retry_after(state, op)} if op["status"] == "InProgress" else {}
    return 200, lro.status_body(state, op), headers


def operation_result(state, req, op_id):
    op = lro.observe(state, op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    if op["status"] == "InProgress":
        return 202, None, lro.location_headers(state, req.base, op, req.api_version or "")
    if op["status"] == "Failed":
        raise ArmError(op["fail"]["status"], op["fail"]["code"], op["fail"]["message"])
    return 204, None, {}


def resource_route(state, req, rg, ns, tail):
    """.../resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}...][/{action|type}]"""
    pairs = tail[: len(tail) - len(tail) % 2]
    extra = tail[len(pairs):]
    type_name = ns + "/" + "/".join(pairs[0::2])
    req.rg, req.ns = rg, ns
    base_id = f"/subscriptions/{state.subscription}/resourceGroups/{rg}/providers/{ns}"
    req.id = base_id + "/" + "/".join(pairs)
    req.name = pairs[-1]
    req.type = type_name
    if len(pairs) > 2:
        req.parent_id = base_id + "/" + "/".join(pairs[:-2])
    kind = typed.kind_of(type_name)
    if kind is None:
        raise ArmError(
            400,
            "InvalidResourceType",
            f"The resource type '{type_name}' could not be found in the namespace '{ns}' for api "
            f"version '{req.api_version}' (not served by the fake).",
        )
    # ARM routes nothing to a resource provider the subscription is not registered with.
    req.check_registered()
    if extra:
        word = extra[0]
        child = typed.kind_of(type_name + "/" + word)
        if child is not None and req.method == "GET":
            req.expect_version(child.api_version, child.type)
            return typed.list_children(state, req, child.type)
        action = ACTIONS.get((type_name.lower(), word.lower()))
        if action is None or req.method != "POST":
            raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake.")
        req.expect_version(kind.api_version, kind.type)
        return action(state, req, kind)
    req.expect_version(kind.api_version, kind.type)
    if req.method == "PUT":
        return typed.put(state, req, kind)
    if req.method == "GET":
        return typed.get(state, req, kind)
    if req.method == "DELETE":
        return typed.delete(state, req, kind)
    raise method_not_allowed(req.method)


def only(method, allowed, fn):
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise method_not_allowed(method)
    return fn()


def method_not_allowed(method):
    return ArmError(405, "MethodNotAllowed", f"The method '{method}' is not allowed here.")
