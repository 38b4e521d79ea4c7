"""Every write to identity state, and the business operations built on them. Wire adapters,
admin actions, commands and tasks all call these, as `services.<name>`; each lives in the
module of its kind of work:

- `pools`: pools, their roles, tags, principal tag maps, OpenID Connect providers (IAM);
- `identities`: a new guest, revoking, disabling, deleting, noting use;
- `guest_limits`: how many new guests an address and a pool may have (the cache only);
- `signin`: logins verified, linked, merged, unlinked; developer user identifiers;
- `issuing`: credentials and OpenID tokens, principal tags, the site's own identities;
- `access_keys`: operator access keys;
- `retention`: unused guests and old revocations forgotten.

Which role an identity gets is worked out in identity/roles.py (reads only), and the keys
that sign tokens are kept by identity/signing_keys.py. What the rest of the site must hear
goes through identity/hooks.py."""

from identity.services.access_keys import (
    access_key_create,
    access_key_deactivate,
    access_key_secret,
    access_key_touch,
)
from identity.services.base import new_identity_id
from identity.services.guest_limits import guest_quota_refusal, guest_quota_take
from identity.services.identities import (
    identities_delete,
    identity_check_guest_access,
    identity_create_guest,
    identity_disable,
    identity_revoke_credentials,
    identity_touch,
)
from identity.services.issuing import (
    DEFAULT_DEVELOPER_TOKEN_DURATION,
    MAX_TOKEN_DURATION,
    authenticated_credentials_issue,
    authenticated_openid_token_issue,
    developer_token_issue,
    guest_credentials_issue,
    guest_openid_token_issue,
    principal_tags_for,
    site_guest,
    site_pool,
    site_token,
    site_user_identity,
    tags_claim,
    tags_from_claims,
    token_session,
)
from identity.services.pools import (
    MAX_TAGS,
    oidc_provider_client_ids_set,
    oidc_provider_create,
    oidc_provider_delete,
    oidc_url_checked,
    pool_create,
    pool_delete,
    pool_developer_provider_set,
    pool_roles_set,
    pool_tag,
    pool_untag,
    pool_update,
    principal_tag_map_set,
    role_create,
    role_delete,
    role_update,
)
from identity.services.retention import guests_expire, pool_retention_set, revocations_prune
from identity.services.signin import (
    LOGINS_DONT_MATCH,
    developer_identifiers,
    developer_identities_merge,
    developer_identity_unlink,
    developer_owner,
    developer_provider,
    identity_merge,
    identity_sign_in,
    identity_unlink,
    logins_verify,
)

__all__ = [
    "DEFAULT_DEVELOPER_TOKEN_DURATION",
    "LOGINS_DONT_MATCH",
    "MAX_TAGS",
    "MAX_TOKEN_DURATION",
    "access_key_create",
    "access_key_deactivate",
    "access_key_secret",
    "access_key_touch",
    "authenticated_credentials_issue",
    "authenticated_openid_token_issue",
    "developer_identifiers",
    "developer_identities_merge",
    "developer_identity_unlink",
    "developer_owner",
    "developer_provider",
    "developer_token_issue",
    "guest_credentials_issue",
    "guest_openid_token_issue",
    "guest_quota_refusal",
    "guest_quota_take",
    "guests_expire",
    "identities_delete",
    "identity_check_guest_access",
    "identity_create_guest",
    "identity_disable",
    "identity_merge",
    "identity_revoke_credentials",
    "identity_sign_in",
    "identity_touch",
    "identity_unlink",
    "logins_verify",
    "new_identity_id",
    "oidc_provider_client_ids_set",
    "oidc_provider_create",
    "oidc_provider_delete",
    "oidc_url_checked",
    "pool_create",
    "pool_delete",
    "pool_developer_provider_set",
    "pool_retention_set",
    "pool_roles_set",
    "pool_tag",
    "pool_untag",
    "pool_update",
    "principal_tag_map_set",
    "principal_tags_for",
    "revocations_prune",
    "role_create",
    "role_delete",
    "role_update",
    "site_guest",
    "site_pool",
    "site_token",
    "site_user_identity",
    "tags_claim",
    "tags_from_claims",
    "token_session",
]
