"""Private DNS zones and their virtual network links (location "global"), 2024-06-01."""
from errors import ArmError
from families import typed

API = "2024-06-01"
ZONE = "Microsoft.Network/privateDnsZones"
LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"


def validate_zone(state, req, body, existing):
    if body["location"].lower() != "global":
        raise ArmError(400, "InvalidLocation", "Private DNS zones take location 'global'.")


def render_zone(state, rec, body):
    links = [c for c in state.children(rec["id"]) if c["type"] == LINK]
    body["properties"].update({
        "maxNumberOfRecordSets": 25000,
        "numberOfRecordSets": 1,
        "maxNumberOfVirtualNetworkLinks": 1000,
        "numberOfVirtualNetworkLinks": len(links),
        "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
        "numberOfVirtualNetworkLinksWithRegistration": sum(
            1 for c in links if c["body"]["properties"].get("registrationEnabled")
        ),
    })
    return body


def before_delete_zone(state, rec):
    if any(c["type"] == LINK for c in state.children(rec["id"])):
        raise ArmError(
            409,
            "Conflict",
            f"The private DNS zone '{rec['body']['name']}' has virtual network links; delete "
            "them before the zone.",
        )


def validate_link(state, req, body, existing):
    validate_zone(state, req, body, existing)
    vnet_id = ((body.get("properties") or {}).get("virtualNetwork") or {}).get("id")
    if not vnet_id or state.get(vnet_id) is None:
        raise ArmError(
            400,
            "BadRequest",
            f"Virtual network resource not found for id '{vnet_id}'.",
        )


def render_link(state, rec, body):
    done = rec["state"] == "Succeeded"
    body["properties"]["virtualNetworkLinkState"] = "Completed" if done else "InProgress"
    body["properties"].setdefault("registrationEnabled", False)
    return body


typed.register(typed.Kind(
    type=ZONE, api_version=API, validate=validate_zone, render=render_zone,
    before_delete=before_delete_zone,
))
typed.register(typed.Kind(
    type=LINK, api_version=API, validate=validate_link, render=render_link,
))
