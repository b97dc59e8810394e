"""One module per resource family; importing them registers their kinds and routes."""


def load_all():
    import importlib

    for name in ("typed", "providers", "groups", "network", "dns", "aks", "acr", "authz",
                 "postgres", "keyvault"):
        importlib.import_module(f"families.{name}")
