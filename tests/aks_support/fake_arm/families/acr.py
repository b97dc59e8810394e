"""Azure Container Registry, 2023-07-01 (RegistryCreate / RegistryCheckNameAvailable /
RegistryCheckNameNotAvailable examples). Registry names are global: taken by any registry in the
fake, or by one of the names seeded as taken elsewhere in Azure."""
import re

import arm
import lro
from errors import ArmError, bad_request
from families import typed

API = "2023-07-01"
REGISTRY = "Microsoft.ContainerRegistry/registries"
NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")


def taken(state, name, own_id=None):
    low = name.lower()
    if low in state.registry_names_taken:
        return True
    return any(
        r["body"]["name"].lower() == low and r["id"].lower() != (own_id or "").lower()
        for r in state.of_type(REGISTRY)
    )


def check_name(state, req, rest):
    if req.method != "POST" or len(rest) != 1:
        raise arm.method_not_allowed(req.method)
    req.expect_version(API, "checkNameAvailability")
    body = req.body or {}
    name = body.get("name") or ""
    if body.get("type") != REGISTRY:
        raise bad_request(f"The type must be '{REGISTRY}'.")
    if not NAME.match(name):
        return 200, {
            "nameAvailable": False,
            "reason": "Invalid",
            "message": "Registry names may contain only alpha numeric characters and must be "
            "between 5 and 50 characters.",
        }, {}
    if taken(state, name):
        return 200, {
            "nameAvailable": False,
            "reason": "AlreadyExists",
            "message": f"The registry {name} is already in use.",
        }, {}
    return 200, {"nameAvailable": True}, {}


def validate(state, req, body, existing):
    if not NAME.match(req.name):
        raise bad_request(
            f"Registry name '{req.name}': alpha numeric characters only, 5 to 50 of them.",
            "InvalidRegistryName",
        )
    if existing is None and taken(state, req.name, req.id):
        raise ArmError(
            409,
            "AlreadyInUse",
            f"The registry DNS name {req.name.lower()}.azurecr.io is already in use. You can "
            "check if the name is already claimed using the checkNameAvailability API.",
        )
    sku = (body.get("sku") or {}).get("name")
    if sku not in ("Basic", "Standard", "Premium"):
        raise bad_request("The registry needs sku.name Basic, Standard or Premium.")


def build(state, req, body, existing, stored):
    props = stored["properties"]
    stored["sku"] = {"name": body["sku"]["name"], "tier": body["sku"]["name"]}
    props["loginServer"] = state.login_server or f"{req.name.lower()}.azurecr.io"
    props["creationDate"] = (existing or {}).get("body", {}).get("properties", {}).get(
        "creationDate") or lro.now_iso()
    props.setdefault("adminUserEnabled", False)
    props.setdefault("publicNetworkAccess", "Enabled")
    props.setdefault("networkRuleBypassOptions", "AzureServices")
    props.setdefault("zoneRedundancy", "Disabled")
    props.setdefault("dataEndpointEnabled", False)
    props.setdefault("anonymousPullEnabled", False)
    props["policies"] = {
        "quarantinePolicy": {"status": "disabled"},
        "trustPolicy": {"type": "Notary", "status": "disabled"},
        "retentionPolicy": {"days": 7, "status": "disabled"},
        "exportPolicy": {"status": "enabled"},
    }
    props["encryption"] = {"status": "disabled"}
    return stored


typed.register(typed.Kind(type=REGISTRY, api_version=API, validate=validate, build=build))
arm.PROVIDER_ROUTES[("microsoft.containerregistry", "checknameavailability")] = check_name
