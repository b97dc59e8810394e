"""Virtual networks with their subnets (inline in the VNet body or PUT one by one), 2024-05-01.

As in Azure: a VNet PUT without a subnet that exists deletes that subnet; a subnet that a node
pool or a flexible server uses cannot be deleted (InUseSubnetCannotBeDeleted) nor have its range
or delegations changed (InUseSubnetCannotBeUpdated); subnet ranges must sit inside the VNet's
address space and not overlap; a subnet PUT while its VNet is being changed is refused with
AnotherOperationInProgress.
"""
import ipaddress

from errors import ArmError, bad_request
from families import typed
from state import stable_uuid

API = "2024-05-01"
VNET = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"


def users_of(state, subnet_id):
    """Resources that use a subnet (node pools, flexible servers), by id."""
    key = subnet_id.lower()
    out = []
    for r in state.resources.values():
        props = r["body"].get("properties", {})
        refs = [props.get("vnetSubnetID"), (props.get("network") or {}).get(
            "delegatedSubnetResourceId")]
        if any(ref and ref.lower() == key for ref in refs):
            out.append(r["id"])
    return out


def in_use_error(code, subnet_id, users):
    verb = "deleted" if code.endswith("Deleted") else "updated"
    return ArmError(
        409,
        code,
        f"Subnet {subnet_id.split('/')[-1]} is in use by {', '.join(users)} and cannot be "
        f"{verb}. In order to {'delete' if verb == 'deleted' else 'update'} the subnet, delete "
        "all the resources within the subnet. See aka.ms/deletesubnet.",
    )


def prefix_of(props):
    p = props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]
    if not p:
        raise bad_request("A subnet needs an addressPrefix.", "InvalidRequestFormat")
    try:
        return ipaddress.ip_network(p, strict=False)
    except ValueError:
        raise bad_request(f"The address prefix {p} is not a valid CIDR.", "InvalidCIDRNotation")


def vnet_space(body):
    prefixes = ((body.get("properties") or {}).get("addressSpace") or {}).get("addressPrefixes")
    if not prefixes:
        raise bad_request("The virtual network needs properties.addressSpace.addressPrefixes.",
                          "InvalidRequestFormat")
    return [ipaddress.ip_network(p, strict=False) for p in prefixes]


def check_ranges(vnet_name, space, subnets):
    """subnets: [(name, network)]"""
    for name, net in subnets:
        if not any(net.subnet_of(s) for s in space if s.version == net.version):
            raise ArmError(
                400,
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{name}' is not valid because its IP address range is outside the IP "
                f"address range of virtual network '{vnet_name}'.",
            )
    for i, (a, na) in enumerate(subnets):
        for b, nb in subnets[i + 1:]:
            if na.overlaps(nb):
                raise ArmError(
                    400,
                    "NetcfgSubnetRangesOverlap",
                    f"Subnet '{a}' is not valid because its IP address range overlaps with that "
                    f"of an existing subnet '{b}' in virtual network '{vnet_name}'.",
                )


def delegations_of(props):
    return sorted(
        (d.get("properties") or {}).get("serviceName", "").lower()
        for d in props.get("delegations") or []
    )


def subnet_change_check(state, existing_rec, new_props):
    users = users_of(state, existing_rec["id"])
    if not users:
        return
    old = existing_rec["body"]["properties"]
    if prefix_of(old) != prefix_of(new_props) or delegations_of(old) != delegations_of(new_props):
        raise in_use_error("InUseSubnetCannotBeUpdated", existing_rec["id"], users)


def validate_vnet(state, req, body, existing):
    space = vnet_space(body)
    inline = (body.get("properties") or {}).get("subnets") or []
    check_ranges(req.name, space, [(s["name"], prefix_of(s.get("properties") or {}))
                                   for s in inline])
    wanted = {s["name"].lower(): s for s in inline}
    for child in state.children(req.id):
        name = child["body"]["name"].lower()
        if name not in wanted:
            users = users_of(state, child["id"])
            if users:
                raise in_use_error("InUseSubnetCannotBeDeleted", child["id"], users)
        else:
            subnet_change_check(state, child, wanted[name].get("properties") or {})


def build_vnet(state, req, body, existing, stored):
    props = stored["properties"]
    props.pop("subnets", None)
    props["resourceGuid"] = stable_uuid(req.id)
    stored["etag"] = f'W/"{stable_uuid(req.id, "etag")}"'
    return stored


def after_vnet_accept(state, req, rec, created):
    """Subnets given inline become children in the same step (no operation of their own)."""
    inline = (req.body.get("properties") or {}).get("subnets") or []
    wanted = {s["name"].lower(): s for s in inline}
    for child in state.children(rec["id"]):
        if child["body"]["name"].lower() not in wanted:
            typed.remove(state, child)
    for s in inline:
        sid = f"{rec['id']}/subnets/{s['name']}"
        old = state.get(sid)
        sub = old or {
            "id": sid,
            "type": SUBNET,
            "group": rec["group"],
            "parent": rec["id"].lower(),
            "op": None,
        }
        sub["state"] = "Succeeded"
        sub["body"] = {
            "id": sid,
            "name": s["name"],
            "type": SUBNET,
            "properties": dict(s.get("properties") or {}),
        }
        state.put(sub)


def render_vnet(state, rec, body):
    body["properties"]["subnets"] = [
        typed.render(state, c) for c in state.children(rec["id"]) if c["type"] == SUBNET
    ]
    return body


def busy_subnet(state, req, existing):
    vnet = state.get(req.parent_id)
    if vnet is not None and vnet.get("op"):
        raise ArmError(
            429,
            "AnotherOperationInProgress",
            f"Another operation on this or dependent resource is in progress. To retrieve status "
            f"of the operation use uri: {vnet['id']}. Retry the operation after it completes.",
            headers={"Retry-After": "1"},
        )


def validate_subnet(state, req, body, existing):
    props = body.get("properties") or {}
    net = prefix_of(props)
    vnet = state.get(req.parent_id)
    space = vnet_space(vnet["body"])
    others = [
        (c["body"]["name"], prefix_of(c["body"]["properties"]))
        for c in state.children(vnet["id"])
        if c["type"] == SUBNET and c["id"].lower() != req.id.lower()
    ]
    check_ranges(vnet["body"]["name"], space, [(req.name, net)] + others)
    if existing is not None:
        subnet_change_check(state, existing, props)


def render_subnet(state, rec, body):
    props = body["properties"]
    for d in props.get("delegations") or []:
        d.setdefault("id", f"{rec['id']}/delegations/{d.get('name')}")
        d.setdefault("type", "Microsoft.Network/virtualNetworks/subnets/delegations")
        dp = d.setdefault("properties", {})
        dp.setdefault("provisioningState", "Succeeded")
    users = users_of(state, rec["id"])
    links = [u for u in users if "dbforpostgresql" in u.lower()]
    if links:
        props["serviceAssociationLinks"] = [
            {"name": f"sal-{i}", "properties": {"link": u, "linkedResourceType":
                                                "Microsoft.DBforPostgreSQL/flexibleServers"}}
            for i, u in enumerate(links)
        ]
    nodes = [u for u in users if u not in links]
    if nodes:
        props["ipConfigurations"] = [{"id": f"{u}/ipConfigurations/ipconfig1"} for u in nodes]
    body.pop("location", None)
    return body


def before_delete_vnet(state, rec):
    for child in state.children(rec["id"]):
        users = users_of(state, child["id"])
        if users:
            raise in_use_error("InUseSubnetCannotBeDeleted", child["id"], users)


def before_delete_subnet(state, rec):
    users = users_of(state, rec["id"])
    if users:
        raise in_use_error("InUseSubnetCannotBeDeleted", rec["id"], users)


typed.register(typed.Kind(
    type=VNET, api_version=API, creating="Updating", validate=validate_vnet, build=build_vnet,
    after_accept=after_vnet_accept, render=render_vnet, before_delete=before_delete_vnet,
))
typed.register(typed.Kind(
    type=SUBNET, api_version=API, listed=False, creating="Updating", needs_location=False,
    validate=validate_subnet, render=render_subnet, busy=busy_subnet,
    before_delete=before_delete_subnet,
))
