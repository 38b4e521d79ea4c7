"""Who may touch whose data: an identity reaches its own data only; another identity's path is
not authorized whether or not that identity exists (access is decided before anything is
looked up, as on AWS); refused credentials and tokens get the AWS auth errors; role and
session policies are enforced."""

import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client, temporary_credentials
from tests.support.errors import error_of
from tests.syncstore.conftest import new_device


def calls_on(sync, pool_id, identity_id):
    """Every Cognito Sync operation that names an identity, on `identity_id`'s path."""
    ids = {"IdentityPoolId": pool_id, "IdentityId": identity_id}
    dataset = {**ids, "DatasetName": "notes"}
    return {
        "ListRecords": lambda: sync.list_records(**dataset),
        "UpdateRecords": lambda: sync.update_records(
            **dataset,
            SyncSessionToken="x",
            RecordPatches=[{"Op": "replace", "Key": "k", "Value": "v", "SyncCount": 0}],
        ),
        "ListDatasets": lambda: sync.list_datasets(**ids),
        "DescribeDataset": lambda: sync.describe_dataset(**dataset),
        "DeleteDataset": lambda: sync.delete_dataset(**dataset),
        "DescribeIdentityUsage": lambda: sync.describe_identity_usage(**ids),
        "RegisterDevice": lambda: sync.register_device(**ids, Platform="GCM", Token="t"),
        "SubscribeToDataset": lambda: sync.subscribe_to_dataset(**dataset, DeviceId="d"),
        "UnsubscribeFromDataset": lambda: sync.unsubscribe_from_dataset(**dataset, DeviceId="d"),
    }


MISSING = "us-east-1:00000000-1111-2222-3333-444444444444"


def test_another_identitys_path_is_not_authorized_whether_or_not_it_exists(device, stranger):
    device.put("secret", "mine")
    for name, call in calls_on(stranger.sync, device.pool_id, device.identity_id).items():
        with pytest.raises(ClientError) as excinfo:
            call()
        theirs = error_of(excinfo)
        with pytest.raises(ClientError) as excinfo:
            calls_on(stranger.sync, device.pool_id, MISSING)[name]()
        nobody = error_of(excinfo)
        assert theirs[0::2] == ("NotAuthorizedException", 403), (name, theirs)
        # The same answer, but for the path it names: nothing tells who exists.
        assert nobody == (theirs[0], theirs[1].replace(device.identity_id, MISSING), 403), name
        assert f"cognito-sync:{name} on resource: " in theirs[1]
        assert f"/identity/{device.identity_id}" in theirs[1]
    # Nothing was read, written or deleted.
    assert [r["Value"] for r in device.list()["Records"]] == ["mine"]


def test_own_identity_in_another_pool_is_not_authorized(ops, device):
    other_pool = ops.create_identity_pool(
        IdentityPoolName="Elsewhere", AllowUnauthenticatedIdentities=True
    )["IdentityPoolId"]
    for name, call in calls_on(device.sync, other_pool, device.identity_id).items():
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)[0::2] == ("NotAuthorizedException", 403), name
    ops.delete_identity_pool(IdentityPoolId=other_pool)


def test_operators_are_told_when_an_identity_does_not_exist(ops_sync, device):
    with pytest.raises(ClientError) as excinfo:
        ops_sync.list_datasets(IdentityPoolId=device.pool_id, IdentityId=MISSING)
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        f"Identity '{MISSING}' not found.",
        404,
    )


def test_refused_credentials_get_auth_errors(live, anon, device):
    tampered = {
        **device.credentials,
        "SessionToken": device.credentials["SessionToken"][:-4] + "AAAA",
    }
    sync = client(live, "cognito-sync", temporary_credentials(tampered))
    with pytest.raises(ClientError) as excinfo:
        sync.list_records(
            IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="notes"
        )
    assert error_of(excinfo)[0::2] == ("UnrecognizedClientException", 403)

    from identity.credentials import credentials_issue

    old = credentials_issue(
        identity_id=device.identity_id,
        pool_id=device.pool_id,
        role_arn="arn:aws:iam::000000000000:role/Cognito_guestsUnauth_Role",
        role_id="AROAEXAMPLE000000000",
        amr=["unauthenticated"],
        duration=3600,
        now=time.time() - 7200,
    )
    expired = client(
        live,
        "cognito-sync",
        {
            "aws_access_key_id": old.access_key_id,
            "aws_secret_access_key": old.secret_key,
            "aws_session_token": old.session_token,
        },
    )
    with pytest.raises(ClientError) as excinfo:
        expired.list_records(
            IdentityPoolId=device.pool_id, IdentityId=device.identity_id, DatasetName="notes"
        )
    assert error_of(excinfo)[0::2] == ("ExpiredTokenException", 403)

    live.manage("revoke_credentials", device.identity_id)
    with pytest.raises(ClientError) as excinfo:
        device.list()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"
    assert "revoked" in error_of(excinfo)[1]
    fresh = new_device(live, anon, device.pool_id, device.identity_id)
    assert fresh.list()["DatasetExists"] is False


def bearer_get(live, path: str, token: str):
    request = urllib.request.Request(
        f"{live.endpoint}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_an_openid_token_opens_its_own_data_only(live, anon, device, stranger):
    device.put("k", "v")
    token = anon.get_open_id_token(IdentityId=device.identity_id)["Token"]
    pool = device.pool_id.replace(":", "%3A")
    mine = device.identity_id.replace(":", "%3A")
    status, body = bearer_get(
        live, f"/identitypools/{pool}/identities/{mine}/datasets/notes/records", token
    )
    assert status == 200
    assert [(r["Key"], r["Value"]) for r in body["Records"]] == [("k", "v")]
    for other in (stranger.identity_id, MISSING):
        status, body = bearer_get(
            live, f"/identitypools/{pool}/identities/{other.replace(':', '%3A')}/datasets", token
        )
        assert (status, body["__type"]) == (403, "NotAuthorizedException")
        assert "cognito-sync:ListDatasets on resource: " in body["message"]
    status, body = bearer_get(
        live, f"/identitypools/{pool}/identities/{mine}/datasets", token[:-6] + "AAAAAA"
    )
    assert (status, body["__type"]) == (403, "UnrecognizedClientException")


def test_an_explicit_deny_in_the_role_is_enforced(live, ops, device):
    role_arn = ops.get_identity_pool_roles(IdentityPoolId=device.pool_id)["Roles"][
        "unauthenticated"
    ]
    device.put("k", "v")
    deny = (
        "from identity import services; from identity.models import Role; "
        f"role = Role.objects.get(arn={role_arn!r}); "
        "policy = dict(role.policy); policy['Statement'] = list(policy['Statement']) + "
        "[{'Effect': 'Deny', 'Action': 'cognito-sync:UpdateRecords', 'Resource': '*'}]; "
        "services.role_update(role=role, policy=policy)"
    )
    live.manage("shell", "-c", deny)
    time.sleep(1.2)  # other processes pick up configuration changes within a second
    assert [r["Value"] for r in device.list()["Records"]] == ["v"]
    with pytest.raises(ClientError) as excinfo:
        device.put("k", "w", sync_count=1)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("NotAuthorizedException", 403)
    assert "cognito-sync:UpdateRecords" in message


def test_a_session_policy_narrows_the_role(live, anon, guest_pool):
    pool_id = guest_pool["IdentityPoolId"]
    identity_id = anon.get_id(IdentityPoolId=pool_id)["IdentityId"]
    token = anon.get_open_id_token(IdentityId=identity_id)["Token"]
    read_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cognito-sync:List*", "cognito-sync:Describe*"],
                "Resource": "*",
            }
        ],
    }
    assumed = client(live, "sts").assume_role_with_web_identity(
        RoleArn="arn:aws:iam::000000000000:role/Cognito_guestsUnauth_Role",
        RoleSessionName="reader",
        WebIdentityToken=token,
        Policy=json.dumps(read_only),
    )["Credentials"]
    sync = client(live, "cognito-sync", temporary_credentials(assumed))
    listed = sync.list_records(IdentityPoolId=pool_id, IdentityId=identity_id, DatasetName="n")
    with pytest.raises(ClientError) as excinfo:
        sync.update_records(
            IdentityPoolId=pool_id,
            IdentityId=identity_id,
            DatasetName="n",
            SyncSessionToken=listed["SyncSessionToken"],
            RecordPatches=[{"Op": "replace", "Key": "k", "Value": "v", "SyncCount": 0}],
        )
    assert error_of(excinfo)[0::2] == ("NotAuthorizedException", 403)
