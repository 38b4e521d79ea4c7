"""The IAM operations for OpenID Connect providers, on the `/aws` endpoint (query protocol,
XML, signed with an operator key): an issuer is registered here, then named by a pool's
OpenIdConnectProviderARNs."""

from aws import registry
from aws.errors import NoSuchEntity
from identity import selectors, services
from identity.auth import Caller, authenticate
from identity.models import OidcProvider

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
VERSION = "2010-05-08"
SERVICE = registry.service("iam", authenticate=authenticate, version=VERSION, namespace=NAMESPACE)
operation = SERVICE.operation


def _operator(caller: Caller | None, permission: str, name: str) -> None:
    assert caller is not None
    caller.operator(f"identity.{permission}_oidcprovider", f"iam:{name}")


def _provider(arn: str) -> OidcProvider:
    provider = selectors.oidc_provider_by_arn(arn)
    if provider is None:
        raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
    return provider


@operation("CreateOpenIDConnectProvider")
def create_open_id_connect_provider(caller, params):
    _operator(caller, "add", "CreateOpenIDConnectProvider")
    provider = services.oidc_provider_create(
        url=params["Url"],
        client_ids=params.get("ClientIDList", []),
        thumbprints=params.get("ThumbprintList", []),
        tags=params.get("Tags", []),
    )
    return {"OpenIDConnectProviderArn": provider.arn, "Tags": provider.tags}


@operation("GetOpenIDConnectProvider")
def get_open_id_connect_provider(caller, params):
    _operator(caller, "view", "GetOpenIDConnectProvider")
    provider = _provider(params["OpenIDConnectProviderArn"])
    return {
        "Url": provider.key,
        "ClientIDList": provider.client_ids,
        "ThumbprintList": provider.thumbprints,
        "CreateDate": provider.created,
        "Tags": provider.tags,
    }


@operation("ListOpenIDConnectProviders")
def list_open_id_connect_providers(caller, params):
    _operator(caller, "view", "ListOpenIDConnectProviders")
    return {"OpenIDConnectProviderList": [{"Arn": p.arn} for p in selectors.oidc_providers()]}


@operation("DeleteOpenIDConnectProvider")
def delete_open_id_connect_provider(caller, params):
    _operator(caller, "delete", "DeleteOpenIDConnectProvider")
    services.oidc_provider_delete(provider=_provider(params["OpenIDConnectProviderArn"]))
    return {}


@operation("AddClientIDToOpenIDConnectProvider")
def add_client_id(caller, params):
    _operator(caller, "change", "AddClientIDToOpenIDConnectProvider")
    provider = _provider(params["OpenIDConnectProviderArn"])
    services.oidc_provider_client_ids_set(
        provider=provider, client_ids=[*provider.client_ids, params["ClientID"]]
    )
    return {}


@operation("RemoveClientIDFromOpenIDConnectProvider")
def remove_client_id(caller, params):
    _operator(caller, "change", "RemoveClientIDFromOpenIDConnectProvider")
    provider = _provider(params["OpenIDConnectProviderArn"])
    services.oidc_provider_client_ids_set(
        provider=provider,
        client_ids=[client for client in provider.client_ids if client != params["ClientID"]],
    )
    return {}
