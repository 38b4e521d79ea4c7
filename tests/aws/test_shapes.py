"""Validation against the botocore models: Java pattern semantics and messages."""

import pytest

from aws import shapes
from aws.errors import SerializationFailed, ValidationFailed


def input_of(service, operation):
    return shapes.operation_model(service, operation).input_shape


def test_word_class_is_ascii_as_in_java():
    shape = input_of("cognito-identity", "GetId")
    shapes.validate(shape, {"IdentityPoolId": "us-east-1:abc-123"})
    with pytest.raises(ValidationFailed):
        shapes.validate(shape, {"IdentityPoolId": "us-éast-1:abc"})


def test_unicode_property_classes_still_match_letters():
    shape = input_of("cognito-identity", "SetIdentityPoolRoles")
    rule = {
        "Claim": "héllo",
        "MatchType": "Equals",
        "Value": "v",
        "RoleARN": "arn:aws:iam::000000000000:role/x",
    }
    shapes.validate(
        shape,
        {
            "IdentityPoolId": "us-east-1:abc",
            "Roles": {},
            "RoleMappings": {"p": {"Type": "Rules", "RulesConfiguration": {"Rules": [rule]}}},
        },
    )


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


def test_every_model_pattern_compiles():
    for service in ("cognito-identity", "cognito-sync", "sts", "iam"):
        model = shapes.service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                shapes._compiled(pattern)
