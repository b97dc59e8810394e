"""Key Vault, 2023-07-01 (getVault / deleteVault / purgeDeletedVault examples), and its data plane
for secrets (7.4) at the vaultUri ARM hands out: http://127.0.0.1:<port>/_vault/<name>/.

Vault names are global; a deleted vault is soft-deleted (GET .../locations/{loc}/deletedVaults/
{name}) and its name stays taken until it is purged (POST .../purge, 202 + Location) or the vault
recovered (createMode "recover"). Data-plane calls take the same bearer token and need an access
policy for the caller's oid with the secret permission (or enableRbacAuthorization).
"""
import re
import time

import arm
import handler
import lro
from credentials import TENANT, claims_of, token
from errors import ArmError, bad_request
from families import typed

API = "2023-07-01"
DATA_API = "7.4"
VAULT = "Microsoft.KeyVault/vaults"
NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")


def validate(state, req, body, existing):
    props = body.get("properties") or {}
    if not NAME.match(req.name) or "--" in req.name:
        raise bad_request(
            f"The vault name '{req.name}' is invalid. A vault's name must be between 3-24 "
            "alphanumeric characters. The name must begin with a letter, end with a letter or "
            "digit, and not contain consecutive hyphens.",
            "VaultNameNotValid",
        )
    if not props.get("tenantId") or not (props.get("sku") or {}).get("name"):
        raise bad_request("properties.tenantId and properties.sku are required.", "BadRequest")
    if existing is not None:
        return
    low = req.name.lower()
    if any(r["body"]["name"].lower() == low for r in state.of_type(VAULT)):
        raise ArmError(
            409,
            "VaultAlreadyExists",
            f"The vault name '{req.name}' is already in use. Vault names are globally unique so "
            "it is possible that the name is already taken.",
        )
    if low in state.deleted_vaults and props.get("createMode") != "recover":
        raise ArmError(
            409,
            "ConflictError",
            f"A vault with the same name already exists in deleted state. You need to either "
            f"recover or purge existing key vault '{req.name}'.",
        )
    if props.get("createMode") == "recover" and low not in state.deleted_vaults:
        raise ArmError(404, "DeletedVaultNotFound", f"No deleted vault named '{req.name}'.")


def build(state, req, body, existing, stored):
    props = stored["properties"]
    if props.pop("createMode", None) == "recover":
        state.deleted_vaults.pop(req.name.lower(), None)
    props["vaultUri"] = f"{req.base}/_vault/{req.name}/"
    props.setdefault("accessPolicies", [])
    props.setdefault("enableSoftDelete", True)
    props.setdefault("softDeleteRetentionInDays", 90)
    props.setdefault("enableRbacAuthorization", False)
    props.setdefault("publicNetworkAccess", "Enabled")
    return stored


def removed(state, rec):
    """A deleted vault is soft-deleted, its secrets kept with it until purged."""
    body = rec["body"]
    now = time.time()
    loc = body["location"]
    state.deleted_vaults[body["name"].lower()] = {
        "id": f"/subscriptions/{state.subscription}/providers/Microsoft.KeyVault/locations/{loc}"
        f"/deletedVaults/{body['name']}",
        "name": body["name"],
        "type": "Microsoft.KeyVault/deletedVaults",
        "properties": {
            "vaultId": rec["id"],
            "location": loc,
            "deletionDate": lro.now_iso(now),
            "scheduledPurgeDate": lro.now_iso(now + 90 * 86400),
            "tags": body.get("tags", {}),
            "purgeProtectionEnabled": bool(body["properties"].get("enablePurgeProtection")),
        },
    }


def deleted_vault(state, req, rest):
    """GET .../locations/{loc}/deletedVaults/{name}; POST .../purge."""
    req.expect_version(API, "deletedVaults")
    if len(rest) not in (4, 5) or rest[2].lower() != "deletedvaults":
        raise ArmError(404, "InvalidResourceType", f"No route for '{req.path}' in the fake.")
    name = rest[3].lower()
    vault = state.deleted_vaults.get(name)
    if vault is None or vault["properties"]["location"] != rest[1].lower():
        raise ArmError(404, "ResourceNotFound",
                       f"The deleted vault '{rest[3]}' in '{rest[1]}' was not found.")
    if len(rest) == 4:
        if req.method != "GET":
            raise arm.method_not_allowed(req.method)
        return 200, vault, {}
    if req.method != "POST" or rest[4].lower() != "purge":
        raise arm.method_not_allowed(req.method)
    if vault["properties"]["purgeProtectionEnabled"]:
        raise ArmError(409, "Conflict", f"Vault '{rest[3]}' has purge protection on; it cannot "
                       "be purged before its scheduled purge date.")
    op_id = vault.get("purge_op")
    op = state.ops.get(op_id) if op_id else None
    if op is None:
        op = lro.start(state, "purge", name, "Microsoft.KeyVault", rest[1], lro.duration("purge"))
        vault["purge_op"] = op["id"]
    return 202, None, lro.location_headers(state, req.base, op, API)


def finish_purge(state, op):
    state.deleted_vaults.pop(op["key"], None)
    for key in [k for k in state.secrets if k[0] == op["key"]]:
        del state.secrets[key]


def list_deleted(state, req, rest):
    req.expect_version(API, "deletedVaults")
    if req.method != "GET" or len(rest) != 1:
        raise arm.method_not_allowed(req.method)
    return 200, {"value": list(state.deleted_vaults.values())}, {}


# --- data plane ---------------------------------------------------------------------------

def dataplane(state, req):
    """/_vault/{vault}/secrets/{name}[/{version}] and /_vault/{vault}/deletedsecrets/{name}."""
    auth = req.headers.get("Authorization") or ""
    if auth.partition(" ")[2] != token():
        raise ArmError(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            headers={
                "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/'
                f'{TENANT}", resource="https://vault.azure.net"'
            },
        )
    if req.api_version != DATA_API:
        raise ArmError(400, "BadParameter", f"The specified version ({req.api_version}) is not "
                       f"recognized. This fake serves {DATA_API}.")
    segs = [s for s in req.path.split("/") if s][1:]
    if len(segs) < 3:
        raise ArmError(404, "NotFound", "Unknown data-plane path.")
    vault_name, collection, name = segs[0].lower(), segs[1].lower(), segs[2]
    vault = next((r for r in state.of_type(VAULT) if r["body"]["name"].lower() == vault_name),
                 None)
    if vault is None:
        raise ArmError(404, "VaultNotFound", f"No vault named '{segs[0]}' (DNS would fail).")
    key = (vault_name, name.lower())
    uri = vault["body"]["properties"]["vaultUri"]
    if collection == "deletedsecrets":
        allow(vault, req, "purge")
        secret = state.secrets.get(key)
        if req.method != "DELETE" or secret is None or not secret.get("deleted"):
            raise ArmError(404, "SecretNotFound", f"Deleted secret {name} not found.")
        del state.secrets[key]
        return 204, None, {}
    if collection != "secrets":
        raise ArmError(404, "NotFound", "Only secrets are served by the fake.")
    secret = state.secrets.get(key)
    if req.method == "PUT":
        allow(vault, req, "set")
        if secret and secret.get("deleted"):
            raise ArmError(409, "Conflict", f"Secret {name} is currently in a deleted but "
                           "recoverable state, and its name cannot be reused; in this state, "
                           "the secret can only be recovered or purged.")
        value = (req.body or {}).get("value")
        if not isinstance(value, str):
            raise ArmError(400, "BadParameter", "The secret value is required.")
        now = int(time.time())
        version = lro.stable_version(name, now)
        bundle = {
            "value": value,
            "id": f"{uri}secrets/{name}/{version}",
            "attributes": {
                "enabled": True,
                "created": (secret or {}).get("attributes", {}).get("created", now),
                "updated": now,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
        }
        for k in ("contentType", "tags"):
            if k in (req.body or {}):
                bundle[k] = req.body[k]
        state.secrets[key] = bundle
        return 200, bundle, {}
    if secret is None or secret.get("deleted"):
        raise ArmError(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in "
                       "this key vault. If you recently deleted this secret you may be able to "
                       "recover it using the correct recovery command.")
    if req.method == "GET":
        allow(vault, req, "get")
        return 200, secret, {}
    if req.method == "DELETE":
        allow(vault, req, "delete")
        secret["deleted"] = True
        now = int(time.time())
        out = {k: v for k, v in secret.items() if k not in ("value", "deleted")}
        out.update(recoveryId=f"{uri}deletedsecrets/{name}", deletedDate=now,
                   scheduledPurgeDate=now + 90 * 86400)
        return 200, out, {}
    raise ArmError(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")


def allow(vault, req, permission):
    props = vault["body"]["properties"]
    if props.get("enableRbacAuthorization"):
        return
    oid = (claims_of(token()).get("oid") or "").lower()
    if not oid:
        return  # an opaque token (FAKE_AZ_TOKEN): nothing to check it against
    for policy in props.get("accessPolicies") or []:
        if (policy.get("objectId") or "").lower() == oid:
            perms = [p.lower() for p in (policy.get("permissions") or {}).get("secrets", [])]
            if permission in perms or "all" in perms:
                return
    raise ArmError(
        403,
        "Forbidden",
        f"The user, group or application 'oid={oid}' does not have secrets {permission} "
        f"permission on key vault '{vault['body']['name']};location={vault['body']['location']}'"
        ". For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid="
        "2125287",
    )


typed.register(typed.Kind(
    type=VAULT, api_version=API, creating="RegisteringDns", delete_sync=True,
    validate=validate, build=build, on_removed=removed,
))
arm.PROVIDER_ROUTES[("microsoft.keyvault", "locations/deletedvaults")] = deleted_vault
arm.PROVIDER_ROUTES[("microsoft.keyvault", "deletedvaults")] = list_deleted
lro.EFFECTS["purge"] = finish_purge
handler.DATA_PLANES["vault"] = dataplane
