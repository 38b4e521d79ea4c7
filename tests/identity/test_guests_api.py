"""Guest identities through boto3: GetId, GetCredentialsForIdentity, GetOpenIdToken,
DescribeIdentity, ListIdentities and DeleteIdentities."""

import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of


def test_each_get_id_without_logins_makes_a_new_guest(anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    first = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    second = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    assert first != second
    assert first.startswith("us-east-1:") and len(first) == len("us-east-1:") + 36


def test_guest_credentials_work_for_one_hour(live, anon, guest_pool):
    identity_id = anon.get_id(IdentityPoolId=guest_pool["IdentityPoolId"])["IdentityId"]
    before = time.time()
    got = anon.get_credentials_for_identity(IdentityId=identity_id)
    assert got["IdentityId"] == identity_id
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    lifetime = creds["Expiration"].timestamp() - before
    assert 3590 < lifetime <= 3601
    sts = client(live, "sts", temporary_credentials(creds))
    caller = sts.get_caller_identity()
    assert caller["Arn"].endswith(
        ":assumed-role/Cognito_guestsUnauth_Role/CognitoIdentityCredentials"
    )
    assert caller["Account"] == "000000000000"
    assert caller["UserId"].startswith("AROA") and caller["UserId"].endswith(
        ":CognitoIdentityCredentials"
    )


def test_expiration_travels_as_epoch_seconds(live, guest_pool):
    import json
    import urllib.request

    anon = client(live, "cognito-identity")
    identity_id = anon.get_id(IdentityPoolId=guest_pool["IdentityPoolId"])["IdentityId"]
    request = urllib.request.Request(
        live.endpoint,
        data=json.dumps({"IdentityId": identity_id}).encode(),
        headers={
            "X-Amz-Target": "AWSCognitoIdentityService.GetCredentialsForIdentity",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
        assert response.headers["x-amzn-RequestId"]
        body = json.load(response)
    assert isinstance(body["Credentials"]["Expiration"], int | float)


def test_pool_without_guests_refuses_get_id(ops, anon):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="NoGuests", AllowUnauthenticatedIdentities=False
    )["IdentityPoolId"]
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_id(IdentityPoolId=pool_id)
    assert error_of(excinfo)[1] == "Unauthenticated access is not supported for this identity pool."
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_guest_of_pool_that_stops_allowing_guests_gets_no_credentials(ops, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    ops.update_identity_pool(
        IdentityPoolId=pool_id, IdentityPoolName="guests", AllowUnauthenticatedIdentities=False
    )
    with pytest.raises(anon.exceptions.NotAuthorizedException):
        anon.get_credentials_for_identity(IdentityId=identity_id)


def test_unknown_pool_and_identity_are_not_found(anon):
    missing_pool = "us-east-1:00000000-0000-0000-0000-000000000000"
    with pytest.raises(anon.exceptions.ResourceNotFoundException) as excinfo:
        anon.get_id(IdentityPoolId=missing_pool)
    assert error_of(excinfo)[1] == f"IdentityPool '{missing_pool}' not found."
    missing = "us-east-1:11111111-2222-3333-4444-555555555555"
    with pytest.raises(anon.exceptions.ResourceNotFoundException) as excinfo:
        anon.get_credentials_for_identity(IdentityId=missing)
    assert error_of(excinfo)[1] == f"Identity '{missing}' not found."
    with pytest.raises(anon.exceptions.ResourceNotFoundException):
        anon.get_open_id_token(IdentityId=missing)


@pytest.mark.parametrize(
    ("call", "kwargs", "field"),
    [
        ("get_id", {"IdentityPoolId": "no-colon"}, "identityPoolId"),
        ("get_id", {"IdentityPoolId": "us-east-1:ABCDEF"}, "identityPoolId"),
        ("get_id", {"IdentityPoolId": "us-east-1:" + "a" * 60}, "identityPoolId"),
        ("get_id", {"IdentityPoolId": "us-east-1:abc", "AccountId": "12ab"}, "accountId"),
        ("get_credentials_for_identity", {"IdentityId": "bad id"}, "identityId"),
        (
            "get_credentials_for_identity",
            {"IdentityId": "us-east-1:abc", "CustomRoleArn": "short"},
            "customRoleArn",
        ),
        ("get_open_id_token", {"IdentityId": "us-east-1:abc/def"}, "identityId"),
    ],
)
def test_ids_that_break_the_patterns_are_validation_errors(live, call, kwargs, field):
    unchecked = client(live, "cognito-identity", parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        getattr(unchecked, call)(**kwargs)
    code, message = error_of(excinfo)[:2]
    assert code == "ValidationException"
    assert f"at '{field}' failed to satisfy constraint" in message


def test_logins_for_providers_this_pool_does_not_trust_are_refused(anon, guest_pool):
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_id(
            IdentityPoolId=guest_pool["IdentityPoolId"],
            Logins={"accounts.google.com": "not-a-token"},
        )
    assert error_of(excinfo)[1] == "Token is not from a supported provider of this identity pool."


def test_guest_open_id_token_is_refused_where_the_classic_flow_is_off(ops, anon):
    pool_id = ops.create_identity_pool(
        IdentityPoolName="Enhanced", AllowUnauthenticatedIdentities=True, AllowClassicFlow=False
    )["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    with pytest.raises(anon.exceptions.InvalidParameterException) as excinfo:
        anon.get_open_id_token(IdentityId=identity_id)
    assert error_of(excinfo)[1] == "Basic (classic) flow is not enabled, please use enhanced flow."


def test_pool_without_a_guest_role_has_an_invalid_configuration(ops, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    roles = ops.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]
    ops.set_identity_pool_roles(
        IdentityPoolId=pool_id, Roles={"authenticated": roles["authenticated"]}
    )
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    with pytest.raises(anon.exceptions.InvalidIdentityPoolConfigurationException) as excinfo:
        anon.get_credentials_for_identity(IdentityId=identity_id)
    assert "Check assigned IAM roles" in error_of(excinfo)[1]


def test_guest_role_must_trust_the_pool(ops, anon, guest_pool):
    """A role whose trust policy names another pool cannot be assumed by this pool's guests."""
    other = ops.create_identity_pool(IdentityPoolName="Other", AllowUnauthenticatedIdentities=True)
    foreign = ops.get_identity_pool_roles(IdentityPoolId=other["IdentityPoolId"])["Roles"]
    pool_id = guest_pool["IdentityPoolId"]
    ops.set_identity_pool_roles(
        IdentityPoolId=pool_id, Roles={"unauthenticated": foreign["unauthenticated"]}
    )
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    with pytest.raises(anon.exceptions.InvalidIdentityPoolConfigurationException):
        anon.get_credentials_for_identity(IdentityId=identity_id)


def test_describe_and_list_identities(ops, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    made = [anon.get_id(IdentityPoolId=pool_id)["IdentityId"] for _ in range(5)]
    described = ops.describe_identity(IdentityId=made[0])
    assert described["IdentityId"] == made[0]
    assert described["Logins"] == []
    assert described["CreationDate"] <= described["LastModifiedDate"]
    seen, token = [], None
    while True:
        page = ops.list_identities(
            IdentityPoolId=pool_id, MaxResults=2, **({"NextToken": token} if token else {})
        )
        assert page["IdentityPoolId"] == pool_id
        assert len(page["Identities"]) <= 2
        seen += [i["IdentityId"] for i in page["Identities"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(made)


def test_list_identities_needs_max_results_in_range(live, operator_keys, guest_pool):
    ops = client(live, "cognito-identity", operator_keys, parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        ops.list_identities(IdentityPoolId=guest_pool["IdentityPoolId"], MaxResults=61)
    assert error_of(excinfo)[0] == "ValidationException"
    assert "less than or equal to 60" in error_of(excinfo)[1]


def test_hide_disabled_leaves_out_disabled_identities(live, ops, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    keep = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    disabled = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    live.manage(
        "shell",
        "-c",
        "from identity import selectors, services; "
        f"services.identity_disable(identity=selectors.identity_get({disabled!r}))",
    )
    listed = ops.list_identities(IdentityPoolId=pool_id, MaxResults=10)["Identities"]
    assert {i["IdentityId"] for i in listed} == {keep, disabled}
    hidden = ops.list_identities(IdentityPoolId=pool_id, MaxResults=10, HideDisabled=True)
    assert [i["IdentityId"] for i in hidden["Identities"]] == [keep]
    with pytest.raises(anon.exceptions.NotAuthorizedException) as excinfo:
        anon.get_credentials_for_identity(IdentityId=disabled)
    assert error_of(excinfo)[1] == f"Access to Identity '{disabled}' is forbidden."


def test_delete_identities_reports_what_it_could_not_delete(live, ops, anon, guest_pool):
    from tests.conftest import make_operator

    pool_id = guest_pool["IdentityPoolId"]
    other_pool = ops.create_identity_pool(
        IdentityPoolName="Elsewhere", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]
    mine = [anon.get_id(IdentityPoolId=pool_id)["IdentityId"] for _ in range(2)]
    theirs = anon.get_id(IdentityPoolId=other_pool)["IdentityId"]
    creds = anon.get_credentials_for_identity(IdentityId=mine[0])["Credentials"]
    scoped = client(live, "cognito-identity", make_operator(live, "deleter", pools=[pool_id]))
    never_existed = "us-east-1:99999999-9999-9999-9999-999999999999"
    result = scoped.delete_identities(IdentityIdsToDelete=[*mine, theirs, never_existed])
    assert result["UnprocessedIdentityIds"] == [{"IdentityId": theirs, "ErrorCode": "AccessDenied"}]
    for identity_id in mine:
        with pytest.raises(ops.exceptions.ResourceNotFoundException):
            ops.describe_identity(IdentityId=identity_id)
    assert ops.describe_identity(IdentityId=theirs)["IdentityId"] == theirs
    sts = client(live, "sts", temporary_credentials(creds))
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_of(excinfo)[0] == "InvalidClientTokenId"


def test_delete_identities_takes_at_most_sixty(live, operator_keys):
    ops = client(live, "cognito-identity", operator_keys, parameter_validation=False)
    ids = [f"us-east-1:{n:08d}-0000-0000-0000-000000000000" for n in range(61)]
    with pytest.raises(ClientError) as excinfo:
        ops.delete_identities(IdentityIdsToDelete=ids)
    assert error_of(excinfo)[0] == "ValidationException"
