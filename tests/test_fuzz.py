"""Every operation of Cognito Identity, Cognito Sync, STS and the IAM subset, fed inputs
generated from its botocore input shape (hostile strings, wrong types, nulls, huge numbers,
missing members) and raw malformed bodies: no answer is a 5xx, every error is in the
protocol's AWS shape. Bounded for CI; bench/fuzz.py sends tens of thousands more."""

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.support import servers
from tests.support.fuzz import (
    OPERATIONS,
    RAW_BODIES,
    RAW_CONTENT_TYPES,
    fire,
    fire_raw,
    params_strategy,
    target_on,
)

EXAMPLES = 30


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A server of its own (fuzzed calls create and change pools), with a guest to act as."""
    with servers.cognate(
        tmp_path_factory.mktemp("fuzz"), label="fuzz", COGNATE_GUEST_RATE_LIMIT="1000000"
    ) as server:
        yield target_on(server)


@pytest.mark.parametrize(("service", "operation"), OPERATIONS, ids=[op for _, op in OPERATIONS])
def test_no_generated_input_gets_a_5xx_or_a_shapeless_error(target, service, operation):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(params=params_strategy(target, service, operation))
    def probe(params):
        found = fire(target, service, operation, params)
        assert found is None, f"{service} {operation} {params!r}: {found}"

    probe()
    assert target.counts[(service, operation)][0] >= 1


@pytest.mark.parametrize("content_type", RAW_CONTENT_TYPES)
def test_no_malformed_body_gets_a_5xx_or_a_shapeless_error(target, content_type):
    for body in RAW_BODIES:
        for operation in ("GetId", "UpdateIdentityPool", "NoSuchOperation"):
            found = fire_raw(target, body, content_type, operation)
            assert found is None, f"{content_type} {body[:60]!r} {operation}: {found}"


def test_the_fuzzing_reaches_past_validation(target):
    """Generated calls of many operations were answered 2xx: the fuzzing reaches the services
    and is not all refused at the door (runs after the tests above)."""
    answered = {operation for (_, operation), (_, _, ok) in target.counts.items() if ok}
    assert len(answered) >= 10, sorted(answered)
