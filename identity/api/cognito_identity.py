"""The Cognito Identity operations (AWS JSON 1.1, `X-Amz-Target:
AWSCognitoIdentityService.<Operation>`): parse what arrived, check who may call, call a
service, shape the answer (reference §2.2)."""

from typing import Any

from django.conf import settings

from aws import pagination, registry
from aws.errors import InvalidParameter, NotAuthorized, ResourceConflict, ResourceNotFound
from aws.render import epoch
from identity import selectors, services
from identity.auth import Caller, authenticate
from identity.models import Identity, IdentityPool

SERVICE = registry.service("cognito-identity", authenticate=authenticate)
operation = SERVICE.operation

ACTION_PREFIX = "cognito-identity:"


def _operator(caller: Caller | None, permission: str, operation_name: str):
    assert caller is not None, "signed operations always have a caller"
    return caller.operator(f"identity.{permission}", ACTION_PREFIX + operation_name)


# --- Shapes -----------------------------------------------------------------------------------
def pool_description(pool: IdentityPool) -> dict:
    out: dict[str, Any] = {
        "IdentityPoolId": pool.id,
        "IdentityPoolName": pool.name,
        "AllowUnauthenticatedIdentities": pool.allow_unauthenticated,
        "SupportedLoginProviders": pool.supported_login_providers,
        "OpenIdConnectProviderARNs": pool.openid_connect_provider_arns,
        "CognitoIdentityProviders": pool.cognito_identity_providers,
        "SamlProviderARNs": pool.saml_provider_arns,
        "IdentityPoolTags": pool.tags,
    }
    if pool.allow_classic_flow is not None:
        out["AllowClassicFlow"] = pool.allow_classic_flow
    if pool.developer_provider_name:
        out["DeveloperProviderName"] = pool.developer_provider_name
    return out


def identity_description(identity: Identity) -> dict:
    return {
        "IdentityId": identity.id,
        "Logins": selectors.identity_login_names(identity),
        "CreationDate": epoch(identity.created),
        "LastModifiedDate": epoch(identity.modified),
    }


def credentials_description(creds) -> dict:
    return {
        "AccessKeyId": creds.access_key_id,
        "SecretKey": creds.secret_key,
        "SessionToken": creds.session_token,
        "Expiration": epoch(creds.expiration),
    }


def _pool_config(params: dict) -> dict:
    return {
        "name": params["IdentityPoolName"],
        "allow_unauthenticated": params["AllowUnauthenticatedIdentities"],
        "allow_classic_flow": params.get("AllowClassicFlow"),
        "supported_login_providers": params.get("SupportedLoginProviders", {}),
        "developer_provider_name": params.get("DeveloperProviderName", ""),
        "openid_connect_provider_arns": params.get("OpenIdConnectProviderARNs", []),
        "cognito_identity_providers": params.get("CognitoIdentityProviders", []),
        "saml_provider_arns": params.get("SamlProviderARNs", []),
        "tags": _checked_tags(params.get("IdentityPoolTags", {})),
    }


def _checked_tags(tags: dict) -> dict:
    if len(tags) > services.MAX_TAGS:
        raise InvalidParameter(f"An identity pool can have at most {services.MAX_TAGS} tags.")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise InvalidParameter(
                "Tag keys must be 1 to 128 characters and tag values at most 256 characters."
            )
    return tags


def _pool_from_arn(caller: Caller, arn: str) -> IdentityPool:
    prefix = (
        f"arn:aws:cognito-identity:{settings.COGNATE_REGION}:{settings.COGNATE_ACCOUNT_ID}:"
        "identitypool/"
    )
    if not arn.startswith(prefix):
        raise InvalidParameter(
            f"ResourceArn must be an identity pool ARN of this server, like {prefix}<pool id>."
        )
    assert caller.key is not None
    return selectors.pool_for_key(caller.key, arn.removeprefix(prefix))


# --- Pools ------------------------------------------------------------------------------------
@operation("CreateIdentityPool")
def create_identity_pool(caller, params):
    key = _operator(caller, "add_identitypool", "CreateIdentityPool")
    pool = services.pool_create(**_pool_config(params))
    if selectors.key_pool_ids(key) is not None:
        key.pools.add(pool)
    return pool_description(pool)


@operation("DescribeIdentityPool")
def describe_identity_pool(caller, params):
    key = _operator(caller, "view_identitypool", "DescribeIdentityPool")
    return pool_description(selectors.pool_for_key(key, params["IdentityPoolId"]))


@operation("UpdateIdentityPool")
def update_identity_pool(caller, params):
    key = _operator(caller, "change_identitypool", "UpdateIdentityPool")
    pool = selectors.pool_for_key(key, params["IdentityPoolId"])
    return pool_description(services.pool_update(pool=pool, **_pool_config(params)))


@operation("DeleteIdentityPool")
def delete_identity_pool(caller, params):
    key = _operator(caller, "delete_identitypool", "DeleteIdentityPool")
    services.pool_delete(pool=selectors.pool_for_key(key, params["IdentityPoolId"]))
    return {}


@operation("ListIdentityPools")
def list_identity_pools(caller, params):
    key = _operator(caller, "view_identitypool", "ListIdentityPools")
    limit = params["MaxResults"]
    after = pagination.position_after("pools", params.get("NextToken"))
    pools, token = pagination.page(
        "pools", selectors.pools_page(key, after=after, limit=limit + 1), limit
    )
    out: dict[str, Any] = {
        "IdentityPools": [
            {"IdentityPoolId": pool.id, "IdentityPoolName": pool.name} for pool in pools
        ]
    }
    if token:
        out["NextToken"] = token
    return out


@operation("GetIdentityPoolRoles")
def get_identity_pool_roles(caller, params):
    key = _operator(caller, "view_identitypool", "GetIdentityPoolRoles")
    pool = selectors.pool_for_key(key, params["IdentityPoolId"])
    roles = {}
    if pool.authenticated_role:
        roles["authenticated"] = pool.authenticated_role.arn
    if pool.unauthenticated_role:
        roles["unauthenticated"] = pool.unauthenticated_role.arn
    out: dict[str, Any] = {"IdentityPoolId": pool.id, "Roles": roles}
    if pool.role_mappings:
        out["RoleMappings"] = pool.role_mappings
    return out


MAX_RULES_PER_PROVIDER = 25


def _checked_role_mappings(mappings: dict) -> dict:
    for provider, mapping in mappings.items():
        kind = mapping["Type"]
        if "AmbiguousRoleResolution" not in mapping:
            raise InvalidParameter(
                f"RoleMappings['{provider}'] needs AmbiguousRoleResolution "
                "(AuthenticatedRole or Deny)."
            )
        rules = mapping.get("RulesConfiguration", {}).get("Rules")
        if kind == "Rules" and not rules:
            raise InvalidParameter(
                f"RoleMappings['{provider}'] is of Type Rules and needs RulesConfiguration.Rules."
            )
        if rules and len(rules) > MAX_RULES_PER_PROVIDER:
            raise InvalidParameter(
                f"RoleMappings['{provider}'] has {len(rules)} rules; at most "
                f"{MAX_RULES_PER_PROVIDER} are allowed per provider."
            )
        for rule in rules or []:
            if selectors.role_view(rule["RoleARN"]) is None:
                raise InvalidParameter(
                    f"Role {rule['RoleARN']} of a rule for '{provider}' does not exist on "
                    "this server."
                )
    return mappings


@operation("SetIdentityPoolRoles")
def set_identity_pool_roles(caller, params):
    key = _operator(caller, "change_identitypool", "SetIdentityPoolRoles")
    pool = selectors.pool_for_key(key, params["IdentityPoolId"])
    services.pool_roles_set(
        pool=pool,
        roles=params["Roles"],
        role_mappings=_checked_role_mappings(params.get("RoleMappings", {})),
    )
    return {}


@operation("TagResource")
def tag_resource(caller, params):
    _operator(caller, "change_identitypool", "TagResource")
    pool = _pool_from_arn(caller, params["ResourceArn"])
    services.pool_tag(pool=pool, tags=_checked_tags(params["Tags"]))
    return {}


@operation("UntagResource")
def untag_resource(caller, params):
    _operator(caller, "change_identitypool", "UntagResource")
    pool = _pool_from_arn(caller, params["ResourceArn"])
    services.pool_untag(pool=pool, keys=params["TagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(caller, params):
    _operator(caller, "view_identitypool", "ListTagsForResource")
    return {"Tags": _pool_from_arn(caller, params["ResourceArn"]).tags}


# --- Identities -------------------------------------------------------------------------------
@operation("GetId")
def get_id(caller, params):
    pool = selectors.pool_view(params["IdentityPoolId"])
    account = params.get("AccountId")
    if account and account != settings.COGNATE_ACCOUNT_ID:
        raise NotAuthorized(f"AccountId {account} does not own the identity pool {pool.id}.")
    if params.get("Logins"):
        logins = services.logins_verify(pool, params["Logins"])
        identity = services.identity_sign_in(pool=pool, logins=logins, trigger="GetId")
        return {"IdentityId": identity.id}
    return {"IdentityId": services.identity_create_guest(pool=pool).id}


@operation("GetCredentialsForIdentity")
def get_credentials_for_identity(caller, params):
    identity = selectors.identity_get(params["IdentityId"])
    pool = selectors.pool_view(identity.pool_id)
    if params.get("Logins"):
        logins = services.logins_verify(pool, params["Logins"])
        identity = services.identity_sign_in(
            pool=pool, logins=logins, identity_id=identity.id, trigger="GetCredentialsForIdentity"
        )
        creds = services.authenticated_credentials_issue(
            identity=identity, pool=pool, logins=logins, custom_role_arn=params.get("CustomRoleArn")
        )
    else:
        creds = services.guest_credentials_issue(
            identity=identity, pool=pool, custom_role_arn=params.get("CustomRoleArn")
        )
    return {"IdentityId": identity.id, "Credentials": credentials_description(creds)}


@operation("GetOpenIdToken")
def get_open_id_token(caller, params):
    identity = selectors.identity_get(params["IdentityId"])
    pool = selectors.pool_view(identity.pool_id)
    if params.get("Logins"):
        logins = services.logins_verify(pool, params["Logins"])
        identity = services.identity_sign_in(
            pool=pool, logins=logins, identity_id=identity.id, trigger="GetOpenIdToken"
        )
        token = services.authenticated_openid_token_issue(
            identity=identity, pool=pool, logins=logins
        )
    else:
        token = services.guest_openid_token_issue(identity=identity, pool=pool)
    return {"IdentityId": identity.id, "Token": token}


@operation("UnlinkIdentity")
def unlink_identity(caller, params):
    identity = selectors.identity_get(params["IdentityId"])
    pool = selectors.pool_view(identity.pool_id)
    logins = services.logins_verify(pool, params["Logins"])
    services.identity_unlink(identity=identity, logins=logins, remove=params["LoginsToRemove"])
    return {}


@operation("DescribeIdentity")
def describe_identity(caller, params):
    key = _operator(caller, "view_identity", "DescribeIdentity")
    return identity_description(selectors.identity_for_key(key, params["IdentityId"]))


@operation("ListIdentities")
def list_identities(caller, params):
    key = _operator(caller, "view_identity", "ListIdentities")
    pool = selectors.pool_for_key(key, params["IdentityPoolId"])
    limit = params["MaxResults"]
    listing = f"identities.{pool.id}.{bool(params.get('HideDisabled'))}"
    after = pagination.position_after(listing, params.get("NextToken"))
    identities, token = pagination.page(
        listing,
        selectors.identities_page(
            pool, hide_disabled=bool(params.get("HideDisabled")), after=after, limit=limit + 1
        ),
        limit,
    )
    out: dict[str, Any] = {
        "IdentityPoolId": pool.id,
        "Identities": [identity_description(identity) for identity in identities],
    }
    if token:
        out["NextToken"] = token
    return out


@operation("DeleteIdentities")
def delete_identities(caller, params):
    key = _operator(caller, "delete_identity", "DeleteIdentities")
    requested = params["IdentityIdsToDelete"]
    found = selectors.identities_by_ids(requested)
    unprocessed = []
    deletable = []
    for identity_id in dict.fromkeys(requested):
        identity = found.get(identity_id)
        if identity is None:
            continue  # already gone: deleting is idempotent
        if selectors.key_reaches_pool(key, identity.pool_id):
            deletable.append(identity)
        else:
            unprocessed.append({"IdentityId": identity_id, "ErrorCode": "AccessDenied"})
    if deletable:
        services.identities_delete(identities=deletable)
    return {"UnprocessedIdentityIds": unprocessed}


# --- Developer-authenticated identities ----------------------------------------------------------
@operation("GetOpenIdTokenForDeveloperIdentity")
def get_open_id_token_for_developer_identity(caller, params):
    key = _operator(caller, "change_identity", "GetOpenIdTokenForDeveloperIdentity")
    pool = selectors.pool_view_for_key(key, params["IdentityPoolId"])
    identity_id = params.get("IdentityId")
    if identity_id is not None:
        identity = selectors.identity_for_key(key, identity_id)
        if identity.pool_id != pool.id:
            raise ResourceNotFound(f"Identity '{identity_id}' not found.")
    identity, token = services.developer_token_issue(
        pool=pool,
        logins=params["Logins"],
        identity_id=identity_id,
        principal_tags=params.get("PrincipalTags"),
        duration=params.get("TokenDuration", services.DEFAULT_DEVELOPER_TOKEN_DURATION),
    )
    return {"IdentityId": identity.id, "Token": token}


@operation("LookupDeveloperIdentity")
def lookup_developer_identity(caller, params):
    key = _operator(caller, "view_identity", "LookupDeveloperIdentity")
    pool = selectors.pool_view_for_key(key, params["IdentityPoolId"])
    services.developer_provider(pool)
    identity_id, identifier = params.get("IdentityId"), params.get("DeveloperUserIdentifier")
    if identity_id is None and identifier is None:
        raise InvalidParameter("Give IdentityId, DeveloperUserIdentifier, or both.")
    if identifier is not None:
        owner = services.developer_owner(pool, identifier)
        if owner is None:
            raise ResourceNotFound(f"Developer user identifier '{identifier}' not found.")
        if identity_id is not None and owner.id != identity_id:
            raise ResourceConflict(
                f"Developer user identifier '{identifier}' belongs to another identity than "
                f"'{identity_id}'."
            )
        return {"IdentityId": owner.id, "DeveloperUserIdentifierList": [identifier]}
    assert identity_id is not None
    identity = selectors.identity_for_key(key, identity_id)
    if identity.pool_id != pool.id:
        raise ResourceNotFound(f"Identity '{identity_id}' not found.")
    limit = params.get("MaxResults", 60)
    listing = f"developer-ids.{identity.id}"
    after = pagination.position_after(listing, params.get("NextToken"))
    identifiers = [
        i for i in services.developer_identifiers(identity, pool) if after is None or i > after
    ]
    page, token = pagination.page(listing, identifiers[: limit + 1], limit, key=lambda i: i)
    out: dict[str, Any] = {"IdentityId": identity.id, "DeveloperUserIdentifierList": page}
    if token:
        out["NextToken"] = token
    return out


@operation("MergeDeveloperIdentities")
def merge_developer_identities(caller, params):
    key = _operator(caller, "change_identity", "MergeDeveloperIdentities")
    pool = selectors.pool_view_for_key(key, params["IdentityPoolId"])
    services.developer_provider(pool, params["DeveloperProviderName"])
    survivor = services.developer_identities_merge(
        pool=pool,
        source_identifier=params["SourceUserIdentifier"],
        destination_identifier=params["DestinationUserIdentifier"],
    )
    return {"IdentityId": survivor.id}


@operation("UnlinkDeveloperIdentity")
def unlink_developer_identity(caller, params):
    key = _operator(caller, "change_identity", "UnlinkDeveloperIdentity")
    pool = selectors.pool_view_for_key(key, params["IdentityPoolId"])
    services.developer_provider(pool, params["DeveloperProviderName"])
    identity = selectors.identity_for_key(key, params["IdentityId"])
    if identity.pool_id != pool.id:
        raise ResourceNotFound(f"Identity '{identity.id}' not found.")
    services.developer_identity_unlink(
        identity=identity, pool=pool, identifier=params["DeveloperUserIdentifier"]
    )
    return {}


@operation("GetPrincipalTagAttributeMap")
def get_principal_tag_attribute_map(caller, params):
    key = _operator(caller, "view_identitypool", "GetPrincipalTagAttributeMap")
    pool = selectors.pool_for_key(key, params["IdentityPoolId"])
    tag_map = selectors.principal_tag_map(pool.id, params["IdentityProviderName"])
    return {
        "IdentityPoolId": pool.id,
        "IdentityProviderName": params["IdentityProviderName"],
        "UseDefaults": tag_map.use_defaults if tag_map else True,
        "PrincipalTags": tag_map.tags if tag_map else {},
    }


@operation("SetPrincipalTagAttributeMap")
def set_principal_tag_attribute_map(caller, params):
    key = _operator(caller, "change_identitypool", "SetPrincipalTagAttributeMap")
    pool = selectors.pool_view_for_key(key, params["IdentityPoolId"])
    tag_map = services.principal_tag_map_set(
        pool=pool,
        provider=params["IdentityProviderName"],
        use_defaults=params.get("UseDefaults", False),
        tags=params.get("PrincipalTags", {}),
    )
    return {
        "IdentityPoolId": pool.id,
        "IdentityProviderName": tag_map.provider,
        "UseDefaults": tag_map.use_defaults,
        "PrincipalTags": tag_map.tags,
    }
