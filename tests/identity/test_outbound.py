"""Outbound fetches cannot be aimed inside: URLs on loopback, private, link-local,
unique-local and cloud metadata addresses are refused when they are registered (IAM
CreateOpenIDConnectProvider, the admin, SetCognitoEvents) and again when they are fetched,
on the socket actually connected; every fetch keeps to one deadline and one size bound and
follows redirects only within its origin; an OpenID Connect issuer whose discovery document
or keys cannot be used is NotAuthorizedException naming it, never a 5xx."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aws.errors import NotAuthorized
from identity import outbound
from identity.providers import ExternalServiceError, verify_login
from tests.conftest import client, make_operator
from tests.identity.test_providers import OidcHarness
from tests.support import servers, standins

SETTING = "COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES"

# URL host forms of internal addresses, and the words the refusal must use for each.
INTERNAL_HOSTS = [
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("localhost", "localhost is a loopback name"),
    ("10.1.2.3", "10.1.2.3 is a private address"),
    ("172.16.0.1", "172.16.0.1 is a private address"),
    ("192.168.1.1", "192.168.1.1 is a private address"),
    ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
    ("[::1]", "::1 is a loopback address"),
    ("[fd00::1]", "fd00::1 is a unique-local address"),
    ("[fe80::1]", "fe80::1 is a link-local address"),
    ("[::ffff:127.0.0.1]", "a loopback address (127.0.0.1) in IPv4-mapped form"),
    ("[64:ff9b::a9fe:a9fe]", "a cloud metadata address (169.254.169.254) in NAT64 form"),
    ("[2002:a00:1::1]", "a private address (10.0.0.1) in 6to4 form"),
    ("0.0.0.0", "0.0.0.0 is the unspecified address"),
    ("[::]", ":: is the unspecified address"),
    ("100.64.0.1", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ("0x7f000001", "0x7f000001 resolves to 127.0.0.1, a loopback address"),
    ("0177.0.0.1", "0177.0.0.1 resolves to 127.0.0.1, a loopback address"),
]
HOST_IDS = [host for host, _ in INTERNAL_HOSTS]


# --- Which addresses are internal -------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "the unspecified address"),
        ("0.1.2.3", "a reserved address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.1", "a reserved address"),
        ("::", "the unspecified address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fd00::1", "a unique-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fec0::1", "a site-local address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a reserved address"),
        ("::ffff:10.0.0.1", "a private address (10.0.0.1) in IPv4-mapped form"),
        ("::127.0.0.1", "a loopback address (127.0.0.1) in IPv4-compatible form"),
        ("64:ff9b::127.0.0.1", "a loopback address (127.0.0.1) in NAT64 form"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
        ("2002:c0a8:101::1", "a private address (192.168.1.1) in 6to4 form"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::8.8.8.8", None),
        ("2002:808:808::1", None),
    ],
)
def test_address_kinds(address, kind):
    assert outbound.address_kind(ipaddress.ip_address(address)) == kind


# --- The fetch ---------------------------------------------------------------------------------
@pytest.fixture
def standin():
    answers = {}

    def route(method, path, query, headers, standin):
        answer = answers.get(path, (200, {"path": path}))
        return answer() if callable(answer) else answer

    server = standins.StandIn(route)
    server.answers = answers
    yield server
    server.stop()


def get(url, **kwargs):
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("max_bytes", 4096)
    return outbound.fetch("GET", url, **kwargs)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1"])
def test_a_fetch_of_this_machine_is_refused_before_connecting(standin, host):
    url = f"http://{host}:{standin.port}/x"
    # The forms do reach this machine: allowed, each one gets the answer.
    assert json.loads(get(url, allow_private=True).body) == {"path": "/x"}
    assert len(standin.paths) == 1
    with pytest.raises(outbound.Refused) as refused:
        get(url, allow_private=False)
    assert "loopback" in refused.value.message
    assert standin.paths == ["/x"]  # nothing more arrived


def test_the_setting_decides_when_the_fetch_does_not(settings, standin):
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(outbound.Refused) as refused:
        get(f"{standin.url}/x")
    assert refused.value.message == (
        "127.0.0.1 is a loopback address; Cognate does not connect to internal addresses "
        f"unless {SETTING}=true (local development and tests only)"
    )
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    assert get(f"{standin.url}/x").status == 200
    # The older name, from when only webhooks were checked, still allows them.
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    settings.SYNC_TRIGGER_ALLOW_PRIVATE_ADDRESSES = True
    assert get(f"{standin.url}/x").status == 200
    assert standin.paths == ["/x", "/x"]


def test_answers_larger_than_the_bound_are_refused_with_or_without_a_length(standin):
    standin.answers["/big"] = (200, b"x" * 5000)
    standin.answers["/unsaid"] = (200, b"x" * 5000, {"Content-Length": None})
    standin.answers["/fits"] = (200, b"x" * 4096, {"Content-Length": None})
    for path in ("/big", "/unsaid"):
        with pytest.raises(outbound.TooLarge) as too_large:
            get(f"{standin.url}{path}")
        assert too_large.value.message == f"{standin.url}{path} answered with more than 4096 bytes"
    assert get(f"{standin.url}/fits").body == b"x" * 4096


def test_the_deadline_covers_the_whole_answer(standin):
    """Each piece arrives well within the time, the whole does not: the fetch stops."""
    standin.answers["/drip"] = (200, standins.Slowly(b"x" * 40, pause=0.1))
    standin.answers["/stall"] = lambda: (time.sleep(3), (200, {}))[1]
    for path in ("/drip", "/stall"):
        with pytest.raises(outbound.TimedOut) as timed_out:
            get(f"{standin.url}{path}", timeout=1.0)
        assert timed_out.value.message == f"{standin.url}{path} did not answer within 1 seconds"


def test_redirects_are_followed_only_within_the_origin(standin):
    elsewhere = standins.StandIn(lambda *args: (200, {"elsewhere": True}))
    try:
        standin.answers["/a"] = (302, {}, {"Location": "/b"})
        standin.answers["/b"] = (307, {}, {"Location": f"{standin.url}/c"})
        assert json.loads(get(f"{standin.url}/a", redirects=3).body) == {"path": "/c"}
        # Without redirects allowed, the redirect is the answer.
        assert get(f"{standin.url}/a").status == 302
        for target in (
            f"{elsewhere.url}/x",  # another port
            f"http://localhost:{standin.port}/x",  # another host name
        ):
            standin.answers["/away"] = (302, {}, {"Location": target})
            with pytest.raises(outbound.Refused) as refused:
                get(f"{standin.url}/away", redirects=3)
            assert refused.value.message == (
                f"{standin.url}/away redirects to {target}, another origin; Cognate follows "
                "redirects only within the same scheme, host and port"
            )
        assert elsewhere.paths == []
        assert "/x" not in standin.paths
    finally:
        elsewhere.stop()


def test_tls_is_verified_against_the_url_host_name(tmp_path):
    """The socket connects to an address, but TLS names the URL's host (SNI) and checks the
    certificate: a certificate nobody vouches for is refused."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names = []
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    try:
        with pytest.raises(outbound.Unreachable) as unreachable:
            get(f"https://localhost:{port}/", allow_private=True)
    finally:
        listener.close()
    assert (
        unreachable.value.message == f"https://localhost:{port}/ could not be reached (TLS failed)"
    )
    assert names == ["localhost"]


# --- OpenID Connect issuers at sign-in ---------------------------------------------------------
@pytest.fixture
def oidc(settings):
    harness = OidcHarness(settings, "oidc")
    yield harness
    harness.stop()


def sign_in_refused(oidc, pool=None) -> str:
    with pytest.raises(NotAuthorized) as refused:
        verify_login(oidc.key, oidc.token("valid"), pool or oidc.pool())
    return refused.value.message


@pytest.mark.django_db
def test_an_issuer_registered_while_allowed_is_refused_at_sign_in_once_not(settings, oidc):
    pool = oidc.pool()
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    assert sign_in_refused(oidc, pool) == (
        f"The OpenID Connect provider {oidc.issuer.url} cannot be asked: 127.0.0.1 is a loopback "
        f"address; Cognate does not connect to internal addresses unless {SETTING}=true "
        "(local development and tests only)."
    )
    assert oidc.issuer.paths == []
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 0  # the failure is not remembered
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    assert verify_login(oidc.key, oidc.token("valid"), pool).subject == "user-1"


def big(document):
    return {**document, "padding": "x" * 300_000}


def stalled(answer):
    return lambda: (time.sleep(2), answer)[1]


def dripped(body):
    return 200, standins.Slowly(json.dumps(body).encode(), size=50, pause=0.2)


DISCOVERY = "/.well-known/openid-configuration"
UNUSABLE = {
    "jwks-no-keys": ("/jwks", lambda i: (200, {"keys": []}), "publishes no usable signing keys"),
    "jwks-no-keys-member": ("/jwks", lambda i: (200, {}), "publishes no usable signing keys"),
    "jwks-only-unusable-keys": (
        "/jwks",
        lambda i: (200, {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}, "junk"]}),
        "publishes no usable signing keys",
    ),
    "jwks-only-encryption-keys": (
        "/jwks",
        lambda i: (200, {"keys": [{**i.published_key(), "use": "enc"}]}),
        "publishes no usable signing keys",
    ),
    "jwks-not-json": ("/jwks", lambda i: (200, b"<html>keys</html>"), "is not JSON"),
    "jwks-not-an-object": ("/jwks", lambda i: (200, ["keys"]), "has no usable key set"),
    "jwks-404": ("/jwks", lambda i: (404, {}), "has no usable key set"),
    "jwks-too-large": (
        "/jwks",
        lambda i: (200, big({"keys": [i.published_key()]})),
        "answered with more than 262144 bytes",
    ),
    "jwks-slow": ("/jwks", lambda i: stalled((200, {"keys": []})), "did not answer within 0.5"),
    "jwks-dripped": (
        "/jwks",
        lambda i: dripped({"keys": [i.published_key()]}),
        "did not answer within 0.5",
    ),
    "discovery-not-json": (DISCOVERY, lambda i: (200, b"not json"), "is not JSON"),
    "discovery-without-jwks_uri": (
        DISCOVERY,
        lambda i: (200, {"issuer": i.url}),
        "has no usable discovery document",
    ),
    "discovery-jwks_uri-ftp": (
        DISCOVERY,
        lambda i: (200, {"jwks_uri": "ftp://127.0.0.1/jwks"}),
        "which is not an https:// URL",
    ),
    "discovery-too-large": (
        DISCOVERY,
        lambda i: (200, big({"jwks_uri": i.jwks_uri})),
        "answered with more than 262144 bytes",
    ),
    "discovery-slow": (
        DISCOVERY,
        lambda i: stalled((200, {"jwks_uri": i.jwks_uri})),
        "did not answer within 0.5",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(UNUSABLE))
def test_an_issuer_whose_documents_cannot_be_used_is_not_authorized_naming_it(settings, oidc, case):
    settings.COGNATE_PROVIDER_TIMEOUT = 0.5
    path, answer, why = UNUSABLE[case]
    oidc.issuer.answers[path] = answer(oidc.issuer)
    message = sign_in_refused(oidc)
    assert message.startswith(f"The OpenID Connect provider {oidc.issuer.url} ")
    assert why in message


@pytest.mark.django_db
def test_a_failing_issuer_is_not_asked_again_within_the_cooldown(settings, oidc):
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 60
    oidc.issuer.answers["/jwks"] = (200, {"keys": []})
    pool = oidc.pool()
    first = sign_in_refused(oidc, pool)
    asked = list(oidc.issuer.paths)
    assert asked == [DISCOVERY, "/jwks"]
    assert sign_in_refused(oidc, pool) == first
    assert oidc.issuer.paths == asked


@pytest.mark.django_db
def test_a_failed_fetch_for_an_unknown_key_leaves_the_known_keys_in_use(settings, oidc):
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 1
    pool = oidc.pool()
    assert verify_login(oidc.key, oidc.token("valid"), pool).subject == "user-1"
    time.sleep(1.1)  # an unknown kid may fetch the keys again
    oidc.issuer.answers["/jwks"] = (200, b"gone")
    with pytest.raises(NotAuthorized) as refused:
        verify_login(oidc.key, oidc.token("unknown_key"), pool)
    assert "is not JSON" in refused.value.message
    assert oidc.issuer.paths == [DISCOVERY, "/jwks", "/jwks"]
    assert verify_login(oidc.key, oidc.token("valid"), pool).subject == "user-1"


@pytest.mark.django_db
def test_made_up_key_ids_do_not_become_a_stream_of_fetches(settings, oidc):
    settings.COGNATE_PROVIDER_KEYS_REFETCH_AFTER = 60
    pool = oidc.pool()
    assert verify_login(oidc.key, oidc.token("valid"), pool).subject == "user-1"
    for _ in range(3):
        with pytest.raises(NotAuthorized) as refused:
            verify_login(oidc.key, oidc.token("unknown_key"), pool)
        assert refused.value.message == (
            "Invalid login token. The token is signed with a key the provider does not publish."
        )
    assert oidc.issuer.paths == [DISCOVERY, "/jwks"]


@pytest.mark.django_db
def test_an_issuer_that_is_down_is_external_service_exception(oidc):
    pool = oidc.pool()
    oidc.stop()
    with pytest.raises(ExternalServiceError) as down:
        verify_login(oidc.key, oidc.token("valid"), pool)
    assert down.value.message == (
        f"The OpenID Connect provider {oidc.issuer.url} is not responding: "
        f"{oidc.issuer.url}{DISCOVERY} could not be reached (no connection); try again later."
    )


@pytest.mark.django_db
def test_discovery_redirected_to_another_port_is_not_followed(oidc):
    elsewhere = standins.OidcIssuer()
    try:
        target = f"{elsewhere.url}{DISCOVERY}"
        oidc.issuer.answers[DISCOVERY] = (302, {}, {"Location": target})
        message = sign_in_refused(oidc)
        assert message == (
            f"The OpenID Connect provider {oidc.issuer.url} cannot be asked: "
            f"{oidc.issuer.url}{DISCOVERY} redirects to {target}, another origin; Cognate "
            "follows redirects only within the same scheme, host and port."
        )
        assert elsewhere.paths == []
    finally:
        elsewhere.stop()


@pytest.mark.django_db
def test_discovery_redirected_within_the_issuer_is_followed(oidc):
    document = {"issuer": oidc.issuer.url, "jwks_uri": oidc.issuer.jwks_uri}
    oidc.issuer.answers[DISCOVERY] = (301, {}, {"Location": "/moved/configuration"})
    oidc.issuer.answers["/moved/configuration"] = (200, document)
    assert verify_login(oidc.key, oidc.token("valid"), oidc.pool()).subject == "user-1"
    assert oidc.issuer.paths == [DISCOVERY, "/moved/configuration", "/jwks"]


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["another-host", "another-port"])
def test_keys_on_another_host_must_be_public_even_where_internal_addresses_are_allowed(oidc, where):
    """The issuer itself may be internal where the setting allows it, but its discovery
    document cannot send the keys fetch to another internal host."""
    elsewhere = standins.OidcIssuer()
    try:
        if where == "another-host":
            oidc.issuer.jwks_uri = f"http://localhost:{oidc.issuer.standin.port}/jwks"
            why = "localhost is a loopback name"
        else:
            oidc.issuer.jwks_uri = f"{elsewhere.url}/jwks"
            why = "127.0.0.1 is a loopback address"
        assert sign_in_refused(oidc) == (
            f"The OpenID Connect provider {oidc.issuer.url} cannot be asked: its keys at "
            f"{oidc.issuer.jwks_uri} are on another host than the issuer, and keys on another "
            f"host must be on a public address whatever {SETTING} says: {why}."
        )
        assert oidc.issuer.paths == [DISCOVERY]
        assert elsewhere.paths == []
    finally:
        elsewhere.stop()


# --- The session given to django-allauth ------------------------------------------------------
def guarded(allow_private, **kwargs):
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("max_bytes", 4096)
    return outbound.GuardedSession(allow_private=allow_private, **kwargs)


def test_the_social_sign_in_session_refuses_internal_addresses_as_requests_errors(standin):
    """django-allauth handles requests' own errors: a refusal is one of them."""
    with guarded(True) as session:
        assert session.get(f"{standin.url}/x").json() == {"path": "/x"}
    with guarded(False) as session, pytest.raises(outbound.RefusedAddress) as refused:
        session.get(f"{standin.url}/x")
    assert isinstance(refused.value, requests.ConnectionError)
    assert str(refused.value) == "127.0.0.1 is a loopback address"
    assert standin.paths == ["/x"]  # the refused one never arrived


def test_the_social_sign_in_session_follows_the_setting(settings, standin):
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    with guarded(None) as session, pytest.raises(outbound.RefusedAddress) as refused:
        session.get(f"{standin.url}/x")
    assert f"unless {SETTING}=true" in str(refused.value)
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with guarded(None) as session:
        assert session.get(f"{standin.url}/x").status_code == 200


def test_the_social_sign_in_session_bounds_size_and_time(standin):
    standin.answers["/big"] = (200, b"x" * 5000)
    standin.answers["/unsaid"] = (200, b"x" * 5000, {"Content-Length": None})
    standin.answers["/fits"] = (200, b"x" * 4096, {"Content-Length": None})
    standin.answers["/drip"] = (200, standins.Slowly(b"x" * 40, pause=0.1))
    standin.answers["/stall"] = lambda: (time.sleep(3), (200, {}))[1]
    with guarded(True) as session:
        for path in ("/big", "/unsaid"):
            with pytest.raises(outbound.AnswerTooLarge) as too_large:
                session.get(f"{standin.url}{path}")
            assert isinstance(too_large.value, requests.RequestException)
            assert str(too_large.value) == (
                f"{standin.url}{path} answered with more than 4096 bytes"
            )
        assert session.get(f"{standin.url}/fits").content == b"x" * 4096
        for path in ("/drip", "/stall"):
            with pytest.raises(requests.Timeout):
                session.get(f"{standin.url}{path}")


def test_the_social_sign_in_session_bounds_its_redirects(standin):
    standin.answers["/a"] = (302, {}, {"Location": "/b"})
    standin.answers["/b"] = (307, {}, {"Location": f"{standin.url}/c"})
    standin.answers["/loop"] = (302, {}, {"Location": "/loop"})
    standin.answers["/huge-redirect"] = (302, b"x" * 5000, {"Location": "/c"})
    with guarded(True, redirects=3) as session:
        answer = session.get(f"{standin.url}/a")
        assert answer.json() == {"path": "/c"}
        assert [hop.status_code for hop in answer.history] == [302, 307]
        with pytest.raises(requests.TooManyRedirects):
            session.get(f"{standin.url}/loop")
        with pytest.raises(outbound.AnswerTooLarge):
            session.get(f"{standin.url}/huge-redirect")
    assert standin.paths.count("/loop") == 4  # the first ask and 3 redirects


# --- Registration ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server as production runs it: internal addresses refused."""
    with servers.cognate(
        tmp_path_factory.mktemp("strict"),
        label="strict",
        **{SETTING: "false"},
    ) as server:
        yield server


@pytest.fixture(scope="module")
def strict_keys(strict):
    return make_operator(strict, "strict-operator")


@pytest.mark.parametrize(("host", "why"), INTERNAL_HOSTS, ids=HOST_IDS)
def test_create_open_id_connect_provider_refuses_internal_issuers(strict, strict_keys, host, why):
    iam = client(strict, "iam", strict_keys)
    url = f"https://{host}/realms/app"
    with pytest.raises(ClientError) as refused:
        iam.create_open_id_connect_provider(Url=url, ClientIDList=["app"], ThumbprintList=[])
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"].startswith(f"Url {url} is refused: ")
    assert why in error["Message"]
    assert f"unless {SETTING}=true" in error["Message"]
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_create_open_id_connect_provider_takes_a_public_issuer(strict, strict_keys):
    iam = client(strict, "iam", strict_keys)
    arn = iam.create_open_id_connect_provider(
        Url="https://login.example.com/realms/app", ClientIDList=["app"], ThumbprintList=[]
    )["OpenIDConnectProviderArn"]
    assert arn.endswith(":oidc-provider/login.example.com/realms/app")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@pytest.fixture(scope="module")
def strict_pool(strict, strict_keys):
    ops = client(strict, "cognito-identity", strict_keys)
    return ops.create_identity_pool(IdentityPoolName="strict", AllowUnauthenticatedIdentities=True)[
        "IdentityPoolId"
    ]


@pytest.mark.parametrize(("host", "why"), INTERNAL_HOSTS, ids=HOST_IDS)
def test_set_cognito_events_refuses_internal_webhooks(strict, strict_keys, strict_pool, host, why):
    sync = client(strict, "cognito-sync", strict_keys)
    url = f"https://{host}/hook"
    with pytest.raises(ClientError) as refused:
        sync.set_cognito_events(IdentityPoolId=strict_pool, Events={"SyncTrigger": url})
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert error["Message"].startswith(f"SyncTrigger webhook {url} is refused: ")
    assert why in error["Message"]
    assert f"unless {SETTING}=true" in error["Message"]
    assert sync.get_cognito_events(IdentityPoolId=strict_pool)["Events"] == {}


def test_set_cognito_events_takes_a_public_webhook(strict, strict_keys, strict_pool):
    sync = client(strict, "cognito-sync", strict_keys)
    url = "https://hooks.example.com/sync"
    sync.set_cognito_events(IdentityPoolId=strict_pool, Events={"SyncTrigger": url})
    assert sync.get_cognito_events(IdentityPoolId=strict_pool)["Events"] == {"SyncTrigger": url}
    sync.set_cognito_events(IdentityPoolId=strict_pool, Events={"SyncTrigger": ""})


def test_the_sites_social_sign_in_does_not_fetch_internal_addresses(tmp_path, standin):
    """django-allauth fetches the provider's discovery document before it redirects the
    browser there: on a server that refuses internal addresses, the person gets the
    sign-in failure page and the provider is never asked."""
    with servers.cognate(
        tmp_path,
        label="strict-social",
        SOCIAL_OIDC_ID="inside",
        SOCIAL_OIDC_SERVER_URL=standin.url,
        SOCIAL_OIDC_CLIENT_ID="app",
        **{SETTING: "false"},
    ) as server:
        http = requests.Session()
        login = f"{server.url}/accounts/oidc/inside/login/"
        http.get(login, timeout=10).raise_for_status()
        tried = http.post(
            login,
            headers={"X-CSRFToken": http.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=10,
        )
        assert tried.status_code == 502, tried.text[:500]
        assert "Third-Party Login Failure" in tried.text
    assert standin.paths == []


# --- The settings check ------------------------------------------------------------------------
def test_the_settings_check_warns_of_internal_addresses(settings):
    from identity.checks import outbound_settings

    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    assert [problem.id for problem in outbound_settings(None)] == ["cognate.W010"]
    settings.COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    assert outbound_settings(None) == []
    settings.COGNATE_FACEBOOK_GRAPH_URL = "http://169.254.169.254/latest"
    [problem] = outbound_settings(None)
    assert problem.id == "cognate.W011"
    assert problem.msg.startswith(
        "COGNATE_FACEBOOK_GRAPH_URL is refused: 169.254.169.254 is a cloud metadata address;"
    )
    settings.COGNATE_FACEBOOK_GRAPH_URL = "https://graph.facebook.com"
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [{"provider_id": "corp", "settings": {"server_url": "http://10.0.0.7/sso"}}]
        }
    }
    [problem] = outbound_settings(None)
    assert problem.id == "cognate.W011"
    assert problem.msg.startswith(
        "The server_url of social app corp is refused: 10.0.0.7 is a private address;"
    )
