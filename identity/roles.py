"""Which role an identity gets, and what its token says it is (`amr`): the pool's roles, role
mappings (reference §3.7) and the roles' trust policies (identity/policies.py). Reads only;
the policy documents of a pool's default roles are here too."""

from django.conf import settings

from aws.errors import InvalidIdentityPoolConfiguration, NotAuthorized
from identity import policies, selectors
from identity.providers import VerifiedLogin
from identity.selectors import PoolView, RoleView

COGNITO_PRINCIPAL = "cognito-identity.amazonaws.com"
AUD_KEY = f"{COGNITO_PRINCIPAL}:aud"
AMR_KEY = f"{COGNITO_PRINCIPAL}:amr"
SUB_KEY = f"{COGNITO_PRINCIPAL}:sub"


def default_trust_policy(*, pool_id: str, amr: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": COGNITO_PRINCIPAL},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {AUD_KEY: pool_id},
                    "ForAnyValue:StringLike": {AMR_KEY: amr},
                },
            }
        ],
    }


def default_access_policy() -> dict:
    """`cognito-sync:*` on the caller's own identity only, as the AWS console's roles do."""
    base = (
        f"arn:aws:cognito-sync:{settings.COGNATE_REGION}:{settings.COGNATE_ACCOUNT_ID}:"
        f"identitypool/${{{AUD_KEY}}}/identity/${{{SUB_KEY}}}"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["cognito-sync:*"], "Resource": [base, f"{base}/*"]}
        ],
    }


def role_arn_for(name: str) -> str:
    return f"arn:aws:iam::{settings.COGNATE_ACCOUNT_ID}:role/{name}"


def invalid_configuration() -> InvalidIdentityPoolConfiguration:
    return InvalidIdentityPoolConfiguration(
        "Invalid identity pool configuration. Check assigned IAM roles for this pool."
    )


def role_trusts(role: RoleView, *, pool_id: str, identity_id: str, amr: list[str]) -> bool:
    """Whether the role's trust policy lets this identity assume it through Cognito."""
    request = policies.Request(
        action="sts:AssumeRoleWithWebIdentity",
        principal={"Federated": COGNITO_PRINCIPAL},
        context={AUD_KEY: pool_id, AMR_KEY: amr, SUB_KEY: identity_id},
    )
    return policies.is_allowed([role.trust_policy], request)


def role_for_identity(pool: PoolView, amr: list[str]) -> RoleView | None:
    """The role an identity of the pool gets: the authenticated role once it has a login,
    the unauthenticated role as a guest."""
    if "authenticated" in amr:
        return pool.authenticated_role
    return pool.unauthenticated_role


def amr_for(logins: list[VerifiedLogin]) -> list[str]:
    """`amr` of an authenticated identity: "authenticated", then each provider and a
    provider-specific entry (a Cognate token passes on its own entries)."""
    amr = ["authenticated"]
    for login in logins:
        if login.identity_id:
            entries = [str(v) for v in login.claims.get("amr", []) if v != "authenticated"]
        else:
            entries = [login.provider, f"{login.provider}:{login.subject}"]
        amr += [entry for entry in entries if entry not in amr]
    return amr


def _rule_matches(rule: dict, claims: dict) -> bool:
    if rule["Claim"] not in claims:
        return False
    claim = claims[rule["Claim"]]
    text = ",".join(map(str, claim)) if isinstance(claim, list) else str(claim)
    value = rule["Value"]
    return {
        "Equals": text == value,
        "Contains": value in text,
        "StartsWith": text.startswith(value),
        "NotEqual": text != value,
    }[rule["MatchType"]]


def role_for_logins(
    pool: PoolView, logins: list[VerifiedLogin], custom_role_arn: str | None = None
) -> RoleView:
    """The role an authenticated identity gets (reference §3.7): the pool's authenticated
    role, unless a role mapping of a login's provider decides (Token: the token's
    cognito:preferred_role / cognito:roles; Rules: the first matching rule), with
    CustomRoleArn choosing among the roles the mapping allows."""
    login = next((item for item in logins if item.provider in pool.role_mappings), None)
    chosen: str | None = None
    if login is None:
        default = pool.authenticated_role
        if custom_role_arn and (default is None or custom_role_arn != default.arn):
            raise NotAuthorized(
                f"CustomRoleArn {custom_role_arn} is not a role these logins may assume."
            )
        if default is None:
            raise invalid_configuration()
        return default
    mapping = pool.role_mappings[login.provider]
    claims = login.claims
    if mapping["Type"] == "Token":
        roles = claims.get("cognito:roles") or []
        roles = roles.split(",") if isinstance(roles, str) else list(roles)
        if custom_role_arn:
            if custom_role_arn not in roles:
                raise NotAuthorized(
                    f"CustomRoleArn {custom_role_arn} is not among the token's cognito:roles."
                )
            chosen = custom_role_arn
        else:
            chosen = claims.get("cognito:preferred_role")
    else:
        rules = mapping.get("RulesConfiguration", {}).get("Rules", [])
        matching = [rule["RoleARN"] for rule in rules if _rule_matches(rule, claims)]
        if custom_role_arn and custom_role_arn in matching:
            chosen = custom_role_arn
        elif custom_role_arn:
            raise NotAuthorized(
                f"CustomRoleArn {custom_role_arn} is not a role the pool's rules give this login."
            )
        elif matching:
            chosen = matching[0]
    if chosen is None:
        if mapping.get("AmbiguousRoleResolution") == "Deny":
            raise NotAuthorized(
                f"No role mapping of {login.provider} matches this login and the pool denies "
                "ambiguous logins (AmbiguousRoleResolution Deny)."
            )
        if pool.authenticated_role is None:
            raise invalid_configuration()
        return pool.authenticated_role
    role = selectors.role_view(chosen)
    if role is None:
        raise invalid_configuration()
    return role
