"""Policy evaluation: allow, explicit deny, wildcards, variables and conditions."""

import pytest

from identity.policies import Decision, Request, document_errors, evaluate, is_allowed

AUD = "cognito-identity.amazonaws.com:aud"
AMR = "cognito-identity.amazonaws.com:amr"
SUB = "cognito-identity.amazonaws.com:sub"
POOL = "us-east-1:aaaaaaaa-0000-0000-0000-000000000000"
ME = "us-east-1:11111111-0000-0000-0000-000000000000"
OTHER = "us-east-1:22222222-0000-0000-0000-000000000000"
SYNC = f"arn:aws:cognito-sync:us-east-1:000000000000:identitypool/{POOL}/identity"

OWN_DATA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["cognito-sync:*"],
            "Resource": [
                "arn:aws:cognito-sync:us-east-1:000000000000:identitypool/"
                "${cognito-identity.amazonaws.com:aud}/identity/"
                "${cognito-identity.amazonaws.com:sub}/*"
            ],
        }
    ],
}
CONTEXT = {AUD: POOL, SUB: ME, AMR: ["unauthenticated"]}


def sync(action, identity, dataset="notes"):
    return Request(
        action=f"cognito-sync:{action}",
        resource=f"{SYNC}/{identity}/dataset/{dataset}",
        context=CONTEXT,
    )


def test_variables_confine_an_identity_to_its_own_data():
    assert is_allowed([OWN_DATA], sync("ListRecords", ME))
    assert evaluate([OWN_DATA], sync("ListRecords", OTHER)) is Decision.IMPLICIT_DENY


def test_action_wildcards_are_case_insensitive_and_service_bound():
    resource = f"{SYNC}/{ME}/x"
    assert is_allowed([OWN_DATA], Request("COGNITO-SYNC:UpdateRecords", resource, context=CONTEXT))
    assert not is_allowed([OWN_DATA], Request("cognito-identity:GetId", resource, context=CONTEXT))


def test_explicit_deny_overrides_allow():
    deny = {
        "Statement": {
            "Effect": "Deny",
            "Action": "cognito-sync:DeleteDataset",
            "Resource": "*",
        }
    }
    assert evaluate([OWN_DATA, deny], sync("DeleteDataset", ME)) is Decision.EXPLICIT_DENY
    assert is_allowed([OWN_DATA, deny], sync("UpdateRecords", ME))


def test_question_mark_and_star_in_resources():
    policy = {"Statement": [{"Effect": "Allow", "Action": "s:*", "Resource": "arn:x:??:*/end"}]}
    assert is_allowed([policy], Request("s:a", "arn:x:ab:middle/part/end"))
    assert not is_allowed([policy], Request("s:a", "arn:x:abc:middle/end"))


def test_unresolvable_variable_never_matches():
    policy = {
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:${aws:username}/*"}]
    }
    assert not is_allowed([policy], Request("s:a", "arn:anyone/x", context={}))
    assert is_allowed([policy], Request("s:a", "arn:bob/x", context={"aws:username": "bob"}))


def test_escaped_wildcards_are_literal():
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:${*}"}]}
    assert is_allowed([policy], Request("s:a", "arn:*"))
    assert not is_allowed([policy], Request("s:a", "arn:anything"))


def test_not_action_and_not_resource():
    policy = {
        "Statement": [
            {"Effect": "Allow", "NotAction": "cognito-sync:Delete*", "NotResource": "arn:secret"}
        ]
    }
    assert is_allowed([policy], Request("cognito-sync:ListRecords", "arn:open"))
    assert not is_allowed([policy], Request("cognito-sync:DeleteDataset", "arn:open"))
    assert not is_allowed([policy], Request("cognito-sync:ListRecords", "arn:secret"))


TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {AUD: POOL},
                "ForAnyValue:StringLike": {AMR: "unauthenticated"},
            },
        }
    ]
}


def assume(context, principal=None):
    return Request(
        action="sts:AssumeRoleWithWebIdentity",
        principal=principal or {"Federated": "cognito-identity.amazonaws.com"},
        context=context,
    )


def test_trust_policy_checks_audience_amr_and_principal():
    assert is_allowed([TRUST], assume(CONTEXT))
    assert not is_allowed([TRUST], assume({**CONTEXT, AUD: "us-east-1:other"}))
    assert not is_allowed(
        [TRUST], assume({**CONTEXT, AMR: ["authenticated", "graph.facebook.com"]})
    )
    assert not is_allowed([TRUST], assume(CONTEXT, {"Federated": "accounts.google.com"}))
    assert not is_allowed([TRUST], assume({SUB: ME}))  # no aud, no amr


def test_for_all_values_and_negated_operators():
    only_known = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "ForAllValues:StringEquals": {AMR: ["authenticated", "accounts.google.com"]}
                },
            }
        ]
    }
    assert is_allowed([only_known], Request("a:b", context={AMR: ["authenticated"]}))
    assert not is_allowed(
        [only_known], Request("a:b", context={AMR: ["authenticated", "graph.facebook.com"]})
    )
    not_pool = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {AUD: POOL}},
            }
        ]
    }
    assert not is_allowed([not_pool], Request("a:b", context={AUD: POOL}))
    assert is_allowed([not_pool], Request("a:b", context={AUD: "other"}))
    assert is_allowed([not_pool], Request("a:b", context={}))


def test_if_exists_null_bool_and_ignore_case():
    def allowed(condition, context):
        policy = {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}
            ]
        }
        return is_allowed([policy], Request("a:b", context=context))

    assert allowed({"StringEqualsIfExists": {"k": "v"}}, {})
    assert not allowed({"StringEquals": {"k": "v"}}, {})
    assert allowed({"Null": {"k": "true"}}, {})
    assert not allowed({"Null": {"k": "true"}}, {"k": "x"})
    assert allowed({"Bool": {"k": True}}, {"k": "true"})
    assert allowed({"StringEqualsIgnoreCase": {"k": "VaLuE"}}, {"k": "value"})
    assert allowed({"StringLike": {"k": "us-*"}}, {"k": "us-east-1"})
    assert allowed({"StringEquals": {"k": "${" + SUB + "}"}}, {"k": ME, SUB: ME})


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "JSON object"),
        ({}, "no Statement"),
        ({"Statement": [{"Effect": "Permit", "Action": "*", "Resource": "*"}]}, "Effect"),
        ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Action or NotAction"),
        ({"Statement": [{"Effect": "Allow", "Action": "*"}]}, "Resource or NotResource"),
        (
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {"NumericEquals": {"k": "1"}},
                    }
                ]
            },
            "not supported",
        ),
    ],
)
def test_malformed_documents_are_explained(document, fragment):
    problems = document_errors(document)
    assert problems and any(fragment in p for p in problems)


def test_well_formed_documents_have_no_errors():
    assert document_errors(OWN_DATA) == []
    assert document_errors(TRUST, trust=True) == []
    assert document_errors(TRUST) != []  # a trust policy has no Resource
