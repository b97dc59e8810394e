"""Role assignments (filled in later)."""
from errors import ArmError


def handle(state, req, scope, rest):
    raise ArmError(404, "InvalidResourceType", "role assignments: not yet")
