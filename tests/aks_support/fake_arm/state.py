"""Everything the fake holds, in memory (and in --state-file when given), behind one lock.

Resources are plain dicts keyed by their lower-cased id (ARM ids are case-insensitive):
  {"id", "type", "group", "parent", "body", "state", "op"}
`state` is the provisioning state the fake shows ("Creating", "Succeeded", "Deleting", ...);
`op` the id of the long-running operation in progress on it, if any.
"""
import json
import os
import random
import threading
import time
import uuid


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.subscription = args.subscription
        self.locations = [loc.lower() for loc in args.location]
        self.kubeconfig = args.kubeconfig
        self.state_file = args.state_file
        self.resources = {}
        self.ops = {}
        self.calls = []
        self.faults = []
        self.share = None  # {"share": float, "rng": Random}
        # Namespaces start Registered unless named by --unregistered.
        self.registrations = {ns.lower(): "NotRegistered" for ns in args.unregistered}
        self.registering = {}  # namespace -> op id
        self.latency_scale = args.latency_scale
        self.polls = args.polls
        self.principal_delay = args.principal_delay
        self.principal_attempts = {}  # principal id -> PUTs refused so far
        self.principals = set()  # object ids the directory knows (identities made by the fake)
        self.registry_names_taken = {n.lower() for n in args.taken_registry}
        self.login_server = getattr(args, "login_server", None)
        self.server_names_reserved = set()
        self.deleted_vaults = {}  # name -> deleted vault record
        self.secrets = {}  # (vault name, secret name) -> secret bundle
        # {"match", "times"}: creates whose first GET answers 404 (ARM's eventual consistency)
        self.not_found_after_put = []
        self.fresh_puts = set()  # ids whose next GET answers 404
        self.load()

    # --- persistence -------------------------------------------------------------------

    PERSISTED = (
        "resources",
        "ops",
        "registrations",
        "registering",
        "principal_attempts",
        "deleted_vaults",
    )

    def load(self):
        if not self.state_file or not os.path.exists(self.state_file):
            return
        with open(self.state_file) as f:
            saved = json.load(f)
        for key in self.PERSISTED:
            setattr(self, key, saved.get(key, getattr(self, key)))
        self.principals = set(saved.get("principals", []))
        self.registry_names_taken |= set(saved.get("registry_names_taken", []))
        self.server_names_reserved = set(saved.get("server_names_reserved", []))
        self.secrets = {tuple(k.split("/", 1)): v for k, v in saved.get("secrets", {}).items()}

    def save(self):
        if not self.state_file:
            return
        saved = {key: getattr(self, key) for key in self.PERSISTED}
        saved["principals"] = sorted(self.principals)
        saved["registry_names_taken"] = sorted(self.registry_names_taken)
        saved["server_names_reserved"] = sorted(self.server_names_reserved)
        saved["secrets"] = {"/".join(k): v for k, v in self.secrets.items()}
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(saved, f)
        os.replace(tmp, self.state_file)

    # --- resources -----------------------------------------------------------------------

    def get(self, rid):
        return self.resources.get(rid.lower())

    def put(self, rec):
        self.resources[rec["id"].lower()] = rec

    def children(self, rid):
        key = rid.lower()
        return [r for r in self.resources.values() if r.get("parent") == key]

    def in_group(self, group):
        g = group.lower()
        return [r for r in self.resources.values() if r.get("group") == g and r["type"] != GROUP]

    def of_type(self, type_name):
        t = type_name.lower()
        return [r for r in self.resources.values() if r["type"].lower() == t]

    def group_id(self, name):
        return f"/subscriptions/{self.subscription}/resourceGroups/{name}"

    # --- the calls log -------------------------------------------------------------------

    def log_call(self, method, path, api_version, status):
        self.calls.append(
            {
                "method": method,
                "path": path,
                "api_version": api_version,
                "status": status,
                "at": time.time(),
            }
        )

    def set_share(self, share, seed):
        self.share = {"share": share, "rng": random.Random(seed)} if share else None


GROUP = "Microsoft.Resources/resourceGroups"


def stable_uuid(*parts):
    """A uuid that is the same for the same inputs in every run (identities, principals)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts).lower()))
