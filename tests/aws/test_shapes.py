"""Validation against the botocore models: Java pattern semantics and messages."""

import copy
import re

import pytest

from aws import shapes
from aws.errors import SerializationFailed, ValidationFailed


def input_of(service, operation):
    return shapes.operation_model(service, operation).input_shape


def test_word_class_is_ascii_as_in_java():
    shape = input_of("cognito-identity", "GetId")
    params = {"IdentityPoolId": "us-east-1:abc-123"}
    assert shapes.validate(shape, params) is None
    assert params == {"IdentityPoolId": "us-east-1:abc-123"}
    with pytest.raises(ValidationFailed) as excinfo:
        shapes.validate(shape, {"IdentityPoolId": "us-éast-1:abc"})
    assert excinfo.value.message == (
        "1 validation error detected: Value 'us-éast-1:abc' at 'identityPoolId' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
    )


def test_unicode_property_classes_still_match_letters():
    shape = input_of("cognito-identity", "SetIdentityPoolRoles")
    rule = {
        "Claim": "héllo",
        "MatchType": "Equals",
        "Value": "v",
        "RoleARN": "arn:aws:iam::000000000000:role/x",
    }
    params = {
        "IdentityPoolId": "us-east-1:abc",
        "Roles": {},
        "RoleMappings": {"p": {"Type": "Rules", "RulesConfiguration": {"Rules": [rule]}}},
    }
    sent = copy.deepcopy(params)
    assert shapes.validate(shape, params) is None
    assert params == sent  # taken whole, the claim as it was


def test_nulls_and_members_the_model_does_not_name_are_dropped_at_every_depth():
    shape = input_of("cognito-identity", "SetIdentityPoolRoles")
    rule = {
        "Claim": "group",
        "MatchType": "Equals",
        "Value": "admins",
        "RoleARN": "arn:aws:iam::000000000000:role/x",
        "Priority": 1,
    }
    params = {
        "IdentityPoolId": "us-east-1:abc",
        "Roles": {"authenticated": "arn:aws:iam::000000000000:role/a"},
        "RoleMappings": {
            "p": {
                "Type": "Rules",
                "AmbiguousRoleResolution": None,
                "RulesConfiguration": {"Rules": [rule]},
            }
        },
        "AccountId": "000000000000",
    }
    assert shapes.validate(shape, params) is None
    assert params == {
        "IdentityPoolId": "us-east-1:abc",
        "Roles": {"authenticated": "arn:aws:iam::000000000000:role/a"},
        "RoleMappings": {
            "p": {
                "Type": "Rules",
                "RulesConfiguration": {
                    "Rules": [
                        {
                            "Claim": "group",
                            "MatchType": "Equals",
                            "Value": "admins",
                            "RoleARN": "arn:aws:iam::000000000000:role/x",
                        }
                    ]
                },
            }
        },
    }


def test_enum_and_nested_paths_are_named():
    shape = input_of("cognito-identity", "SetIdentityPoolRoles")
    with pytest.raises(ValidationFailed) as excinfo:
        shapes.validate(
            shape,
            {
                "IdentityPoolId": "us-east-1:abc",
                "Roles": {},
                "RoleMappings": {"p": {"Type": "Sometimes"}},
            },
        )
    assert "roleMappings.p.type" in excinfo.value.message
    assert "enum value set: [Token, Rules]" in excinfo.value.message


def test_wrong_types_are_serialization_errors():
    with pytest.raises(SerializationFailed, match="'maxResults'"):
        shapes.validate(input_of("cognito-identity", "ListIdentityPools"), {"MaxResults": "5"})
    with pytest.raises(SerializationFailed, match="'maxResults'"):
        shapes.validate(input_of("cognito-identity", "ListIdentityPools"), {"MaxResults": True})


# \w, \d or \s as a class escape (an even run of backslashes before it is literal ones).
CLASS_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\[wds]")


def test_every_model_pattern_compiles_with_its_java_classes_spelled_out_in_ascii():
    spelled_out = []
    for service in ("cognito-identity", "cognito-sync", "sts", "iam"):
        model = shapes.service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                compiled = shapes._compiled(pattern).pattern
                assert not CLASS_ESCAPE.search(compiled), (service, name, compiled)
                if CLASS_ESCAPE.search(pattern):
                    spelled_out.append(name)
    assert "IdentityPoolId" in spelled_out  # [\w-]+:[0-9a-f-]+
