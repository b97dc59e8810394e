"""The subscription, resource provider state and registration (MissingSubscriptionRegistration
is the classic first failure on a new subscription)."""
import lro
from errors import ArmError

# Namespaces the fake serves (any other is unknown to it, as a misspelt one is to ARM).
NAMESPACES = {
    "microsoft.containerservice": "Microsoft.ContainerService",
    "microsoft.containerregistry": "Microsoft.ContainerRegistry",
    "microsoft.network": "Microsoft.Network",
    "microsoft.dbforpostgresql": "Microsoft.DBforPostgreSQL",
    "microsoft.keyvault": "Microsoft.KeyVault",
    "microsoft.authorization": "Microsoft.Authorization",
    "microsoft.managedidentity": "Microsoft.ManagedIdentity",
    "microsoft.compute": "Microsoft.Compute",
    "microsoft.resources": "Microsoft.Resources",
}
API = "2021-04-01"


def subscription(state, req):
    req.expect_version("2022-12-01", "subscriptions")
    from credentials import TENANT

    return 200, {
        "id": f"/subscriptions/{state.subscription}",
        "subscriptionId": state.subscription,
        "tenantId": TENANT,
        "displayName": "kat fake subscription",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
        "authorizationSource": "RoleBased",
    }, {}


def registration_state(state, ns):
    key = ns.lower()
    op_id = state.registering.get(key)
    if op_id:
        lro.observe(state, op_id)
    return state.registrations.get(key, "Registered")


def provider_body(state, ns, look=True):
    """look: this answer counts as a look at a registration in flight (a GET does, the register
    POST that started it does not)."""
    name = NAMESPACES[ns.lower()]
    return {
        "id": f"/subscriptions/{state.subscription}/providers/{name}",
        "namespace": name,
        "registrationState": registration_state(state, ns) if look else
        state.registrations.get(ns.lower(), "Registered"),
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [],
    }


def known(ns):
    if ns.lower() not in NAMESPACES:
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{ns}' is invalid.")


def provider(state, req, ns):
    req.expect_version(API, "providers")
    known(ns)
    return 200, provider_body(state, ns), {}


def register(state, req, ns):
    req.expect_version(API, "providers")
    known(ns)
    key = ns.lower()
    if state.registrations.get(key, "Registered") != "Registered" and key not in state.registering:
        state.registrations[key] = "Registering"
        op = lro.start(state, "register", key, NAMESPACES[key], "global", lro.duration("register"))
        state.registering[key] = op["id"]
    return 200, provider_body(state, ns, look=False), {}


def finish_register(state, op):
    state.registrations[op["key"]] = "Registered"
    state.registering.pop(op["key"], None)


def require_registered(state, ns):
    if registration_state(state, ns) != "Registered":
        name = NAMESPACES.get(ns.lower(), ns)
        msg = (
            f"The subscription is not registered to use namespace '{name}'. See "
            "https://aka.ms/rps-not-found for how to register subscriptions."
        )
        raise ArmError(
            409,
            "MissingSubscriptionRegistration",
            msg,
            details=[{"code": "MissingSubscriptionRegistration", "target": name, "message": msg}],
        )


lro.EFFECTS["register"] = finish_register
