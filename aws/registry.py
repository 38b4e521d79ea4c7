"""The one registry of AWS operations. Each app declares its services with the function
that authenticates their callers, and registers a handler per operation:

    SERVICE = registry.service("cognito-identity", authenticate=authenticate)
    operation = SERVICE.operation

    @operation("GetId")
    def get_id(caller, params) -> dict: ...

The dispatchers (`aws.rpc` for AWS JSON 1.1 and query, `aws.rest` for REST-JSON) look the
handler up by service and operation name. A handler takes (caller, params) and returns the
output structure; the caller is None for operations that are not signed."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, dict], dict]
# authenticate(arrived request, service name) -> the caller, or raises AuthFailure
Authenticate = Callable[..., Any]


@dataclass
class Service:
    name: str
    authenticate: Authenticate
    handlers: dict[str, Handler] = field(default_factory=dict)
    # The query protocol's API version and XML namespace (STS, IAM).
    version: str | None = None
    namespace: str | None = None

    def operation(self, name: str) -> Callable[[Handler], Handler]:
        """The decorator that registers the handler of operation `name`."""

        def register(handler: Handler) -> Handler:
            self.handlers[name] = handler
            return handler

        return register


SERVICES: dict[str, Service] = {}


def service(
    name: str,
    *,
    authenticate: Authenticate,
    version: str | None = None,
    namespace: str | None = None,
) -> Service:
    """Declare the service `name` (its botocore model name); once per service."""
    assert name not in SERVICES, f"the AWS service {name} is declared twice"
    SERVICES[name] = Service(name, authenticate, version=version, namespace=namespace)
    return SERVICES[name]


def lookup(name: str) -> Service | None:
    return SERVICES.get(name)
