"""Identity state: pools and their roles, identities and their logins, operator access keys
and the keys that sign OpenID tokens. Every write goes through `identity.services` (the
signing keys: `identity.signing_keys`)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdentityPool(models.Model):
    """A Cognito identity pool (reference §2.1 IdentityPool) with its roles."""

    # How datasets meet when a guest is merged into another identity (syncstore/merge.py),
    # set with this tag (also editable in the admin).
    MERGE_POLICY_TAG = "cognate:merge-policy"
    MERGE_POLICIES = ("merge", "newest", "cognito", "custom")
    # The pool's configuration as CreateIdentityPool and UpdateIdentityPool set it (roles,
    # role mappings and retention are set apart): the services, the admin and the cached
    # view of a pool (selectors.PoolView) all take this list.
    CONFIG_FIELDS = (
        "name",
        "allow_unauthenticated",
        "allow_classic_flow",
        "supported_login_providers",
        "developer_provider_name",
        "openid_connect_provider_arns",
        "cognito_identity_providers",
        "saml_provider_arns",
        "tags",
    )

    id = models.CharField(primary_key=True, max_length=55)
    name = models.CharField(max_length=128)
    allow_unauthenticated = models.BooleanField(
        "allow guests", default=False, help_text="AllowUnauthenticatedIdentities"
    )
    # Three-valued, as on AWS: None (never set) allows the classic flow, like True; only an
    # explicit False refuses it (reference §3.1).
    allow_classic_flow = models.BooleanField(
        null=True, blank=True, default=None, help_text="AllowClassicFlow"
    )
    supported_login_providers = models.JSONField(default=dict, blank=True)
    developer_provider_name = models.CharField(max_length=128, blank=True, default="")
    openid_connect_provider_arns = models.JSONField(default=list, blank=True)
    cognito_identity_providers = models.JSONField(default=list, blank=True)
    saml_provider_arns = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    authenticated_role = models.ForeignKey(
        "Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unauthenticated_role = models.ForeignKey(
        "Role", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role_mappings = models.JSONField(default=dict, blank=True)
    guest_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete guest identities (and their data) unused for this many days. "
        "Empty keeps guests for ever.",
    )
    merged_data_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete the datasets a merge made to keep values that met other values "
        "(name.2, name.3…) this many days after they were last written. Empty keeps them.",
    )
    created = models.DateTimeField(default=timezone.now)
    modified = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:cognito-identity:{settings.COGNATE_REGION}:"
            f"{settings.COGNATE_ACCOUNT_ID}:identitypool/{self.id}"
        )

    @property
    def merge_policy(self) -> str:
        return self.tags.get(self.MERGE_POLICY_TAG, "merge")


class Role(models.Model):
    """An IAM-style role: who may assume it (trust policy) and what it allows (policy)."""

    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=64)
    role_id = models.CharField(max_length=32, unique=True, help_text="AROA… id of the role")
    pool = models.ForeignKey(
        IdentityPool,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="default_roles",
        help_text="The pool this role was made for; it is deleted with the pool.",
    )
    description = models.CharField(max_length=1000, blank=True, default="")
    trust_policy = models.JSONField(help_text="Who may assume the role (AssumeRolePolicyDocument)")
    policy = models.JSONField(help_text="What the role's credentials may do (policy document)")
    max_session_duration = models.PositiveIntegerField(default=3600)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Identity(models.Model):
    """An identity of a pool: a guest until it has a login; disabled when merged away."""

    class State(models.TextChoices):
        GUEST = "guest"
        AUTHENTICATED = "authenticated"
        DISABLED = "disabled"

    id = models.CharField(primary_key=True, max_length=55)
    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="identities")
    state = models.CharField(max_length=16, choices=State.choices, default=State.GUEST)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    credentials_not_before = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Credentials and tokens issued before this time are refused (revocation).",
    )
    principal_tags = models.JSONField(
        default=dict,
        blank=True,
        help_text="Tags given by GetOpenIdTokenForDeveloperIdentity, put in its tokens.",
    )
    created = models.DateTimeField(default=timezone.now)
    modified = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the identity last got credentials or a token (to the hour); guest "
        "retention counts from it.",
    )

    class Meta:
        verbose_name_plural = "identities"
        indexes = [
            models.Index(fields=["pool", "id"]),
            models.Index(fields=["pool", "state", "last_used"]),
        ]

    def __str__(self) -> str:
        return self.id


class Login(models.Model):
    """A provider login linked to an identity: (pool, provider, subject) is unique."""

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="logins")
    provider = models.CharField(max_length=2048)
    subject = models.CharField(max_length=1024)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="logins")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pool", "provider", "subject"], name="login_unique_per_pool"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.subject}"


class AccessKey(models.Model):
    """An operator's access key for SigV4-signed developer calls. The secret is kept
    encrypted (SigV4 needs it to recompute signatures)."""

    access_key_id = models.CharField(max_length=32, unique=True)
    secret_encrypted = models.TextField(editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys"
    )
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    pools = models.ManyToManyField(
        IdentityPool,
        blank=True,
        related_name="+",
        help_text="Limit the key to these pools; leave empty for every pool.",
    )
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.access_key_id


class SigningKey(models.Model):
    """An RSA key that signs OpenID tokens. The private part is encrypted at rest; retired
    keys stay published in the JWKS until every token they signed has expired."""

    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=10, default="RS512")
    private_key_encrypted = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    created = models.DateTimeField(default=timezone.now)
    retired = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.kid


class OidcProvider(models.Model):
    """An OpenID Connect issuer registered like an IAM OIDC provider: pools name it by ARN
    in OpenIdConnectProviderARNs, and its Logins key is the URL without the scheme."""

    url = models.CharField(max_length=255, unique=True, help_text="The issuer, https://…")
    client_ids = models.JSONField(default=list, blank=True)
    thumbprints = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "OpenID Connect provider"
        ordering = ["url"]

    def __str__(self) -> str:
        return self.url

    @property
    def key(self) -> str:
        return self.url.split("://", 1)[-1]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{settings.COGNATE_ACCOUNT_ID}:oidc-provider/{self.key}"


class Merge(models.Model):
    """A record of one identity merged into another: which logins brought it about and
    what happened to each dataset."""

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="merges")
    merged_identity_id = models.CharField(
        max_length=55, help_text="The identity merged away (kept if it is deleted later)."
    )
    merged = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="merges_out"
    )
    survivor = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="merges_in")
    trigger = models.CharField(max_length=64)
    logins = models.JSONField(default=list, blank=True)
    policy = models.CharField(max_length=32)
    summary = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.merged_identity_id} → {self.survivor_id}"


class PrincipalTagMap(models.Model):
    """Which claims of a provider's tokens become principal tags
    (Get/SetPrincipalTagAttributeMap)."""

    DEFAULTS = {"username": "sub", "client": "aud"}

    pool = models.ForeignKey(IdentityPool, on_delete=models.CASCADE, related_name="tag_maps")
    provider = models.CharField(max_length=128)
    use_defaults = models.BooleanField(default=True)
    tags = models.JSONField(default=dict, blank=True, help_text="tag key → claim name")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "provider"], name="tag_map_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.pool_id} {self.provider}"

    @property
    def mapping(self) -> dict[str, str]:
        return {**(self.DEFAULTS if self.use_defaults else {}), **self.tags}
