"""AKS managed clusters and agent pools, 2024-09-01.

Modelled on the spec's ManagedClustersGet / AgentPoolsCreate_Update / AgentPoolsDelete /
ManagedClustersListClusterUserCredentials / KubernetesVersions_List examples:
- a cluster create makes its node resource group (`properties.nodeResourceGroup`, or
  MC_<group>_<name>_<location>) managed by the cluster and tagged like it, with the kubelet
  identity in it, and the delete of the cluster takes the node resource group away;
- `identityProfile.kubeletidentity` {resourceId, clientId, objectId} and the cluster's own
  system-assigned identity; both principals are known to the directory (after a propagation
  delay, see authz);
- agent pools given inline in the cluster body become agent pools; one operation at a time on a
  cluster and its pools (409 OperationNotAllowed);
- with enableAutoScaling the autoscaler owns `count`: once a new pool is up the fake moves its
  count by one node within [minCount, maxCount], as a busy autoscaler would;
- listClusterUserCredential returns the testbed kubeconfig renamed (kubeconfig.py).
"""
import base64
import copy
import json
import os
import re

import arm
import kubeconfig
from credentials import TENANT
from errors import ArmError, bad_request, not_found
from families import groups, typed
from state import stable_uuid

API = "2024-09-01"
CLUSTER = "Microsoft.ContainerService/managedClusters"
POOL = "Microsoft.ContainerService/managedClusters/agentPools"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

with open(os.path.join(HERE, "fixtures", "kubernetes_versions.json")) as f:
    VERSIONS = json.load(f)


def supported(version):
    """True for a supported minor ("1.31") or patch ("1.31.2")."""
    for v in VERSIONS["values"]:
        if version == v["version"] or version in v["patchVersions"]:
            return True
    return False


def full_version(version):
    for v in VERSIONS["values"]:
        if version == v["version"]:
            return sorted(v["patchVersions"], key=lambda p: [int(x) for x in p.split(".")])[-1]
    return version


def default_version():
    return next(v["version"] for v in VERSIONS["values"] if v.get("isDefault"))


def check_version(version, what):
    if version and not supported(version):
        raise ArmError(
            400,
            "K8sVersionNotSupported",
            f"Managed cluster {what}: version {version} is not supported in this region. Please "
            "use [az aks get-versions] command to get the supported version list in this region.",
        )


def kubernetes_versions(state, req, rest):
    """GET /subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{loc}/
    kubernetesVersions"""
    if req.method != "GET" or len(rest) != 3:
        raise arm.method_not_allowed(req.method)
    req.expect_version(API, "locations/kubernetesVersions")
    typed.check_location(state, rest[1], CLUSTER)
    return 200, copy.deepcopy(VERSIONS), {}


# --- busy: one operation at a time on a cluster and its pools --------------------------------

def running_op(state, cluster_id):
    cluster = state.get(cluster_id)
    if cluster is None:
        return None
    for r in [cluster] + state.children(cluster_id):
        if r.get("op"):
            op = state.ops.get(r["op"])
            if op and op["status"] == "InProgress":
                return r
    return None


def not_allowed(rec):
    what = "Deleting" if rec["state"] == "Deleting" else rec["state"]
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation is not allowed because there's an in progress {what.lower()} operation on "
        f"'{rec['id'].split('/')[-1]}'. Please wait for it to finish before starting a new "
        "operation.",
    )


def busy_cluster(state, req, existing):
    if req.method == "DELETE" or existing is None:
        return  # AKS takes a delete at any time
    r = running_op(state, existing["id"])
    if r is not None:
        raise not_allowed(r)


def busy_pool(state, req, existing):
    r = running_op(state, req.parent_id)
    if r is not None:
        raise not_allowed(r)


# --- agent pools --------------------------------------------------------------------------

POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def validate_pool_props(state, name, props):
    if not POOL_NAME.match(name):
        raise bad_request(
            f"Agent pool name '{name}' is invalid: lowercase letters and digits, starting with a "
            "letter, at most 12 characters."
        )
    auto = props.get("enableAutoScaling")
    lo, hi, count = props.get("minCount"), props.get("maxCount"), props.get("count")
    if auto:
        if lo is None or hi is None:
            raise bad_request(f"Agent pool '{name}': minCount and maxCount are required when "
                              "enableAutoScaling is true.")
        if lo > hi:
            raise bad_request(f"Agent pool '{name}': minCount ({lo}) must be less than or "
                              f"equal to maxCount ({hi}).")
        if count is not None and not lo <= count <= hi:
            raise bad_request(f"Agent pool '{name}': count ({count}) must be between minCount "
                              f"({lo}) and maxCount ({hi}).")
    elif lo is not None or hi is not None:
        raise bad_request(f"Agent pool '{name}': minCount and maxCount must be null when "
                          "enableAutoScaling is false.")
    check_version(props.get("orchestratorVersion"), f"agent pool {name}")
    subnet = props.get("vnetSubnetID")
    if subnet and state.get(subnet) is None:
        raise bad_request(f"Agent pool '{name}': the subnet {subnet} (vnetSubnetID) was not "
                          "found.", "InvalidParameter")


def pool_props(props, cluster_version, existing=None):
    out = copy.deepcopy(existing or {})
    out.update(copy.deepcopy(props))
    out.pop("name", None)
    out.setdefault("count", props.get("minCount") or 1)
    out.setdefault("vmSize", "Standard_DS2_v2")
    out.setdefault("osType", "Linux")
    out.setdefault("osSKU", "Ubuntu")
    out.setdefault("mode", "User")
    out.setdefault("type", "VirtualMachineScaleSets")
    out.setdefault("maxPods", 250)
    version = out.get("orchestratorVersion") or cluster_version
    out["orchestratorVersion"] = version
    out["currentOrchestratorVersion"] = full_version(version)
    out["nodeImageVersion"] = "AKSUbuntu-2204gen2containerd-202411.12.0"
    out["powerState"] = {"code": "Running"}
    return out


def cluster_version(state, cluster_id):
    c = state.get(cluster_id)
    return c["body"]["properties"]["kubernetesVersion"] if c else default_version()


def validate_pool(state, req, body, existing):
    props = body.get("properties") or {}
    validate_pool_props(state, req.name, props)


def build_pool(state, req, body, existing, stored):
    stored.pop("location", None)
    old = existing["body"]["properties"] if existing else None
    stored["properties"] = pool_props(body.get("properties") or {},
                                      cluster_version(state, req.parent_id), old)
    return stored


def pool_ready(state, rec):
    props = rec["body"]["properties"]
    if props.get("enableAutoScaling") and not rec.get("autoscaled"):
        rec["autoscaled"] = True
        lo, hi = props["minCount"], props["maxCount"]
        count = props.get("count", lo)
        props["count"] = count + 1 if count < hi else max(lo, count - 1)


def before_delete_pool(state, rec):
    if rec["body"]["properties"].get("mode") == "System":
        systems = [p for p in state.children(rec["parent"])
                   if p["type"] == POOL and p["body"]["properties"].get("mode") == "System"]
        if len(systems) <= 1:
            raise ArmError(
                400,
                "OperationNotAllowed",
                f"Agent pool '{rec['body']['name']}' is the cluster's only system pool: it cannot "
                "be deleted. Must define at least one system pool.",
            )


def render_pool(state, rec, body):
    body["properties"]["provisioningState"] = rec["state"]
    return body


# --- clusters -----------------------------------------------------------------------------

def node_group_name(req, body):
    return (body.get("properties") or {}).get("nodeResourceGroup") or (
        f"MC_{req.rg}_{req.name}_{body['location'].lower()}"
    )


def validate_cluster(state, req, body, existing):
    props = body.get("properties") or {}
    pools = props.get("agentPoolProfiles") or []
    check_version(props.get("kubernetesVersion"), req.name)
    for p in pools:
        if "name" not in p:
            raise bad_request("Every agentPoolProfiles entry needs a name.")
        validate_pool_props(state, p["name"], p)
    if existing is None:
        if not any(p.get("mode") == "System" for p in pools):
            raise bad_request("Must define at least one system pool.",
                              "MustDefineAtLeastOneSystemPool")
        nrg = node_group_name(req, body)
        if state.get(state.group_id(nrg)) is not None:
            raise bad_request(
                f"The node resource group '{nrg}' already exists; AKS creates it and it must "
                "not exist before.",
                "NodeResourceGroupAlreadyExists",
            )
    else:
        old = existing["body"]["properties"]
        for key in ("nodeResourceGroup", "dnsPrefix"):
            if props.get(key) and props[key] != old.get(key):
                raise bad_request(
                    f"Changing property '{key}' is not allowed.", "PropertyChangeNotAllowed"
                )


def build_cluster(state, req, body, existing, stored):
    props = stored["properties"]
    props.pop("agentPoolProfiles", None)
    if existing is not None:
        old = copy.deepcopy(existing["body"]["properties"])
        old.update(props)
        props = stored["properties"] = old
        stored["identity"] = existing["body"].get("identity")
    version = props.get("kubernetesVersion") or default_version()
    props["kubernetesVersion"] = version
    props["currentKubernetesVersion"] = full_version(version)
    prefix = props.get("dnsPrefix") or f"{req.name[:10]}-{req.rg[:10]}-{state.subscription[:6]}"
    props["dnsPrefix"] = prefix
    suffix = stable_uuid(req.id)[:8]
    loc = stored["location"]
    props["fqdn"] = f"{prefix}-{suffix}.hcp.{loc}.azmk8s.io"
    props["azurePortalFQDN"] = f"{prefix}-{suffix}.portal.hcp.{loc}.azmk8s.io"
    nrg = node_group_name(req, body)
    props["nodeResourceGroup"] = nrg
    props.setdefault("enableRBAC", True)
    props["maxAgentPools"] = 100
    props["powerState"] = {"code": "Running"}
    net = props.setdefault("networkProfile", {})
    net.setdefault("networkPlugin", "kubenet")
    net.setdefault("loadBalancerSku", "standard")
    net.setdefault("outboundType", "loadBalancer")
    net.setdefault("serviceCidr", "10.0.0.0/16")
    net.setdefault("dnsServiceIP", "10.0.0.10")
    if net.get("networkPluginMode") == "overlay" or net["networkPlugin"] == "kubenet":
        net.setdefault("podCidr", "10.244.0.0/16")
    ident_name = f"{req.name}-agentpool"
    ident_id = (f"/subscriptions/{state.subscription}/resourcegroups/{nrg}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{ident_name}")
    props["identityProfile"] = {
        "kubeletidentity": {
            "resourceId": ident_id,
            "clientId": stable_uuid(ident_id, "client"),
            "objectId": stable_uuid(ident_id, "object"),
        }
    }
    identity = copy.deepcopy(body.get("identity") or stored.get("identity") or
                             {"type": "SystemAssigned"})
    if identity.get("type") == "SystemAssigned":
        identity["principalId"] = stable_uuid(req.id, "principal")
        identity["tenantId"] = TENANT
    stored["identity"] = identity
    props.setdefault("servicePrincipalProfile", {"clientId": "msi"})
    props.setdefault("oidcIssuerProfile", {"enabled": False})
    return stored


def after_cluster_accept(state, req, rec, created):
    props = rec["body"]["properties"]
    tags = rec["body"].get("tags") or {}
    if created:
        nrg = props["nodeResourceGroup"]
        groups.create(state, nrg, rec["body"]["location"], tags, managed_by=rec["id"])
        kubelet = props["identityProfile"]["kubeletidentity"]
        ident_id = kubelet["resourceId"]
        state.put({
            "id": ident_id,
            "type": IDENTITY,
            "group": nrg.lower(),
            "parent": None,
            "state": "Succeeded",
            "op": None,
            "body": {
                "id": ident_id,
                "name": ident_id.split("/")[-1],
                "type": IDENTITY,
                "location": rec["body"]["location"],
                "tags": dict(tags),
                "properties": {
                    "tenantId": TENANT,
                    "principalId": kubelet["objectId"],
                    "clientId": kubelet["clientId"],
                },
            },
        })
        state.principals.add(kubelet["objectId"])
        principal = rec["body"]["identity"].get("principalId")
        if principal:
            state.principals.add(principal)
    version = props["kubernetesVersion"]
    for p in (req.body.get("properties") or {}).get("agentPoolProfiles") or []:
        pid = f"{rec['id']}/agentPools/{p['name']}"
        old = state.get(pid)
        pool = old or {"id": pid, "type": POOL, "group": rec["group"],
                       "parent": rec["id"].lower()}
        pool["body"] = {
            "id": pid,
            "name": p["name"],
            "type": POOL,
            "properties": pool_props(p, version, old["body"]["properties"] if old else None),
        }
        pool["state"] = "Creating" if old is None else "Updating"
        pool["op"] = rec["op"]
        state.put(pool)


def render_cluster(state, rec, body):
    pools = []
    for p in state.children(rec["id"]):
        if p["type"] != POOL:
            continue
        entry = {"name": p["body"]["name"]}
        entry.update(copy.deepcopy(p["body"]["properties"]))
        entry["provisioningState"] = p["state"]
        pools.append(entry)
    body["properties"]["agentPoolProfiles"] = pools
    return body


def on_cluster_removed(state, rec):
    nrg = state.get(state.group_id(rec["body"]["properties"]["nodeResourceGroup"]))
    if nrg is not None and (nrg["body"].get("managedBy") or "").lower() == rec["id"].lower():
        for r in state.in_group(nrg["body"]["name"]):
            typed.remove(state, r)
        typed.remove(state, nrg)


def list_user_credential(state, req, kind):
    rec = state.get(req.id)
    if rec is None:
        raise not_found(req.id, CLUSTER)
    if not state.kubeconfig:
        raise ArmError(500, "InternalServerError", "The fake was started without --kubeconfig.")
    with open(state.kubeconfig) as f:
        text = f.read()
    value = kubeconfig.renamed(text, req.rg, rec["body"]["name"])
    return 200, {
        "kubeconfigs": [
            {"name": "clusterUser", "value": base64.b64encode(value.encode()).decode()}
        ]
    }, {}


typed.register(typed.Kind(
    type=CLUSTER, api_version=API, validate=validate_cluster, build=build_cluster,
    after_accept=after_cluster_accept, render=render_cluster, busy=busy_cluster,
    on_removed=on_cluster_removed,
))
typed.register(typed.Kind(
    type=POOL, api_version=API, listed=False, needs_location=False, validate=validate_pool,
    build=build_pool, render=render_pool, busy=busy_pool, on_ready=pool_ready,
    before_delete=before_delete_pool,
))
typed.register(typed.Kind(type=IDENTITY, api_version="2023-01-31", lro=False))
arm.ACTIONS[(CLUSTER.lower(), "listclusterusercredential")] = list_user_credential
arm.PROVIDER_ROUTES[("microsoft.containerservice", "locations/kubernetesversions")] = (
    kubernetes_versions
)
