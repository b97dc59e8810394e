"""ARM error answers: `{"error": {"code", "message", "details"}}` with an HTTP status.

Raised anywhere below the router and turned into the response by arm.py.
"""


class ArmError(Exception):
    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self):
        err = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}


def not_found(rid, type_name):
    """ARM's answer for a resource that is not there (the group case has its own code)."""
    name = rid.rstrip("/").split("/")[-1]
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_name}/{name}' under resource group "
        f"'{group_of(rid) or ''}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


def group_not_found(name):
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def bad_request(message, code="InvalidParameter"):
    return ArmError(400, code, message)


def group_of(rid):
    parts = rid.strip("/").split("/")
    for i, p in enumerate(parts[:-1]):
        if p.lower() == "resourcegroups":
            return parts[i + 1]
    return None


# The default code ARM gives each status when a fault names none.
DEFAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

DEFAULT_MESSAGES = {
    429: "The request is being throttled as the limit has been reached for operation type. "
    "Please retry after the time given in the Retry-After header.",
    500: "An internal server error occurred. Please retry the request.",
    503: "The service is temporarily unavailable. Please retry the request.",
}
