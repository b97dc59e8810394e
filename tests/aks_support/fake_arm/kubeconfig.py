"""The kubeconfig listClusterUserCredential hands out: the testbed's (given with --kubeconfig),
its cluster and context renamed to the AKS cluster's name and its user to
clusterUser_<group>_<cluster>, as Azure names them.

The rename works on the text (no YAML parser in the standard library): it handles the one-cluster
kubeconfigs the testbed writes, in block or flow style.
"""
import re

SCALAR = r"\"?([A-Za-z0-9_.@:\-]+)\"?"


def _names(text):
    current = re.search(r"current-context:\s*" + SCALAR, text)
    clusters = re.findall(r"\bcluster:\s*" + SCALAR + r"\s*[,}\n]", text)
    users = re.findall(r"\buser:\s*" + SCALAR + r"\s*[,}\n]", text)
    return (
        current.group(1) if current else None,
        clusters[0] if clusters else None,
        users[0] if users else None,
    )


def renamed(text, group, cluster):
    context, old_cluster, old_user = _names(text)
    user = f"clusterUser_{group}_{cluster}"
    swaps = {}
    for old, new in ((old_cluster, cluster), (context, cluster), (old_user, user)):
        if old:
            swaps[old] = new

    def sub(m):
        key, quote, value, end = m.group(1), m.group(2), m.group(3), m.group(4)
        return f"{key}{quote}{swaps.get(value, value)}{quote}{end}"

    pattern = re.compile(
        r"(\b(?:name|cluster|user|current-context):\s*)(\"?)([A-Za-z0-9_.@:\-]+)\2(\s*[,}\n]|$)",
        re.MULTILINE,
    )
    return pattern.sub(sub, text)
