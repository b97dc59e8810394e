"""Azure Database for PostgreSQL flexible servers and their databases, 2024-08-01 (ServerCreate /
ServerGetWithVnet / DatabaseCreate / CheckNameAvailability examples).

Private access only as kat uses it: the delegated subnet must exist and be delegated to
Microsoft.DBforPostgreSQL/flexibleServers, the private DNS zone must exist. The admin password is
write-only (never in an answer). Server names are global and stay reserved after a delete (as
Azure keeps them for a while): checkNameAvailability says so and a create with such a name is
refused.
"""
import re

import arm
from errors import ArmError, bad_request
from families import typed

API = "2024-08-01"
SERVER = "Microsoft.DBforPostgreSQL/flexibleServers"
DATABASE = "Microsoft.DBforPostgreSQL/flexibleServers/databases"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
DELEGATION = "microsoft.dbforpostgresql/flexibleservers"


def name_used(state, name, own_id=None):
    low = name.lower()
    if low in state.server_names_reserved:
        return True
    return any(
        r["body"]["name"].lower() == low and r["id"].lower() != (own_id or "").lower()
        for r in state.of_type(SERVER)
    )


def check_name(state, req, rest):
    if req.method != "POST" or len(rest) != 1:
        raise arm.method_not_allowed(req.method)
    req.expect_version(API, "checkNameAvailability")
    body = req.body or {}
    name = body.get("name") or ""
    out = {"name": name, "type": body.get("type", SERVER)}
    if not NAME.match(name):
        out.update(nameAvailable=False, reason="Invalid",
                   message="Server name must be 3 to 63 lowercase letters, digits or hyphens.")
    elif name_used(state, name):
        out.update(nameAvailable=False, reason="AlreadyExists",
                   message="Specified server name is already used.")
    else:
        out.update(nameAvailable=True, message="")
    return 200, out, {}


def validate_server(state, req, body, existing):
    props = body.get("properties") or {}
    if not NAME.match(req.name):
        raise bad_request(f"Server name '{req.name}' must be 3 to 63 lowercase letters, digits "
                          "or hyphens.", "InvalidServerName")
    if existing is None:
        if name_used(state, req.name, req.id):
            raise ArmError(409, "ServerNameAlreadyExists",
                           f"Specified server name '{req.name}' is already used.")
        for key in ("administratorLogin", "administratorLoginPassword"):
            if not props.get(key):
                raise bad_request(f"properties.{key} is required to create a server.",
                                  "InvalidParameterValue")
        if str(props.get("version", "16")) not in ("12", "13", "14", "15", "16", "17"):
            raise bad_request(f"Version {props.get('version')} is not supported.",
                              "InvalidParameterValue")
        sku = body.get("sku") or {}
        if not sku.get("name") or sku.get("tier") not in ("Burstable", "GeneralPurpose",
                                                           "MemoryOptimized"):
            raise bad_request("sku.name and sku.tier (Burstable, GeneralPurpose or "
                              "MemoryOptimized) are required.", "InvalidParameterValue")
    net = props.get("network") or {}
    subnet_id = net.get("delegatedSubnetResourceId")
    if subnet_id:
        subnet = state.get(subnet_id)
        if subnet is None:
            raise bad_request(f"The subnet {subnet_id} was not found.", "SubnetNotFound")
        services = [
            ((d.get("properties") or {}).get("serviceName") or "").lower()
            for d in subnet["body"]["properties"].get("delegations") or []
        ]
        if DELEGATION not in services:
            raise bad_request(
                f"The subnet {subnet_id} is not delegated to "
                "Microsoft.DBforPostgreSQL/flexibleServers.",
                "SubnetNotDelegated",
            )
    zone_id = net.get("privateDnsZoneArmResourceId")
    if zone_id and state.get(zone_id) is None:
        raise bad_request(f"The private DNS zone {zone_id} was not found.",
                          "PrivateDnsZoneNotFound")


def build_server(state, req, body, existing, stored):
    props = stored["properties"]
    if existing is not None:
        merged = dict(existing["body"]["properties"])
        merged.update(props)
        props = stored["properties"] = merged
        stored.setdefault("sku", existing["body"].get("sku"))
    props.pop("administratorLoginPassword", None)
    props.pop("createMode", None)
    props["version"] = str(props.get("version", "16"))
    props["minorVersion"] = "6"
    props["fullyQualifiedDomainName"] = f"{req.name.lower()}.postgres.database.azure.com"
    net = props.setdefault("network", {})
    net["publicNetworkAccess"] = "Disabled" if net.get("delegatedSubnetResourceId") else "Enabled"
    props.setdefault("storage", {"storageSizeGB": 32, "autoGrow": "Disabled", "tier": "P4"})
    backup = props.setdefault("backup", {})
    backup.setdefault("backupRetentionDays", 7)
    backup.setdefault("geoRedundantBackup", "Disabled")
    props.setdefault("highAvailability", {"mode": "Disabled"})
    props["highAvailability"].setdefault("state", "NotEnabled")
    props.setdefault("authConfig", {"activeDirectoryAuth": "Disabled", "passwordAuth": "Enabled"})
    props.setdefault("dataEncryption", {"type": "SystemManaged"})
    props.setdefault("availabilityZone", "1")
    props["replicationRole"] = "Primary"
    props["replicaCapacity"] = 5
    return stored


def render_server(state, rec, body):
    body["properties"]["state"] = {
        "Succeeded": "Ready",
        "Deleting": "Dropping",
        "Failed": "Disabled",
    }.get(rec["state"], "Provisioning" if rec["state"] == "Creating" else "Updating")
    return body


def server_removed(state, rec):
    state.server_names_reserved.add(rec["body"]["name"].lower())


def build_database(state, req, body, existing, stored):
    stored.pop("location", None)
    props = stored["properties"]
    props.setdefault("charset", "UTF8")
    props.setdefault("collation", "en_US.utf8")
    return stored


typed.register(typed.Kind(
    type=SERVER, api_version=API, validate=validate_server, build=build_server,
    render=render_server, on_removed=server_removed,
))
typed.register(typed.Kind(
    type=DATABASE, api_version=API, listed=False, needs_location=False, build=build_database,
))
arm.PROVIDER_ROUTES[("microsoft.dbforpostgresql", "checknameavailability")] = check_name
