"""Small local HTTP servers standing in for the login providers' endpoints (Google/Apple/any
OpenID Connect issuer, Facebook's Graph API, Login with Amazon's token info, Twitter's
verify_credentials), so each provider is tested over real HTTP."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1.rfc5849 import signature, utils


class Slowly:
    """An answer body written `size` bytes at a time with `pause` seconds between pieces:
    each piece arrives in time, the whole does not."""

    def __init__(self, payload: bytes, *, size: int = 1, pause: float = 0.2):
        self.payload, self.size, self.pause = payload, size, pause


class StandIn:
    """A threaded HTTP server answering with `route(method, path, query, headers)` →
    (status, body) or (status, body, extra headers). A body is sent as JSON, or as it is when
    it is bytes or `Slowly`. Every request's path is kept in `paths`."""

    def __init__(self, route):
        outer = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                outer.paths.append(parsed.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                status, body, *extra = route("GET", parsed.path, query, dict(self.headers), outer)
                slowly = body if isinstance(body, Slowly) else None
                if slowly is not None:
                    payload = slowly.payload
                elif isinstance(body, bytes):
                    payload = body
                else:
                    payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    headers = {"Content-Length": str(len(payload)), **(extra[0] if extra else {})}
                    for name, value in headers.items():
                        if value is not None:  # None leaves the header out
                            self.send_header(name, value)
                    self.end_headers()
                    if slowly is None:
                        self.wfile.write(payload)
                        return
                    for start in range(0, len(payload), slowly.size):
                        self.wfile.write(payload[start : start + slowly.size])
                        self.wfile.flush()
                        time.sleep(slowly.pause)
                except OSError:
                    pass  # the caller gave up

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class OidcIssuer:
    """An OpenID Connect issuer: discovery, a JWKS with one RSA key, and tokens signed with
    it (or with a key it does not publish)."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.standin = StandIn(self._route)
        self.url = self.standin.url
        self.jwks_uri = f"{self.url}/jwks"
        # path -> the answer to give there instead: (status, body[, headers]), or a function
        # returning one (which may take its time)
        self.answers: dict[str, tuple] = {}

    @property
    def paths(self) -> list[str]:
        return self.standin.paths

    def _route(self, method, path, query, headers, standin):
        if path in self.answers:
            answer = self.answers[path]
            return answer() if callable(answer) else answer
        if path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": self.jwks_uri}
        if path == "/jwks":
            return 200, {"keys": [self.published_key()]}
        return 404, {}

    def published_key(self) -> dict:
        """The signing key as the JWKS publishes it."""
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def rotate(self):
        """Publish a new signing key (and only it) under a new kid."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"k{int(self.kid[1:]) + 1}"

    def token(
        self,
        *,
        sub="user-1",
        aud="client-1",
        iss=None,
        expires_in=600,
        key=None,
        kid=None,
        **claims,
    ):
        now = int(time.time())
        payload = {
            "iss": iss or self.url,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + expires_in,
            **claims,
        }
        return jwt.encode(
            payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def stop(self):
        self.standin.stop()


class Facebook:
    """Graph API: /app and /me for the access tokens it knows."""

    def __init__(self):
        self.tokens = {}  # token -> (app id, user id, expired)
        self.standin = StandIn(self._route)
        self.url = self.standin.url

    def _route(self, method, path, query, headers, standin):
        known = self.tokens.get(query.get("access_token"))
        if known is None:
            return 400, {"error": {"message": "Invalid OAuth access token.", "code": 190}}
        app_id, user_id, expired = known
        if expired:
            return 400, {
                "error": {"message": "Session has expired.", "code": 190, "error_subcode": 463}
            }
        if path == "/app":
            return 200, {"id": app_id, "name": "an app"}
        if path == "/me":
            return 200, {"id": user_id}
        return 404, {}


class Amazon:
    """Login with Amazon's token info endpoint."""

    def __init__(self):
        self.tokens = {}  # token -> (client id, user id, expired)
        self.standin = StandIn(self._route)
        self.url = self.standin.url + "/auth/o2/tokeninfo"

    def _route(self, method, path, query, headers, standin):
        known = self.tokens.get(query.get("access_token"))
        if known is None:
            return 400, {
                "error": "invalid_token",
                "error_description": "The request has an invalid parameter",
            }
        client_id, user_id, expired = known
        if expired:
            return 400, {"error": "invalid_token", "error_description": "The token has expired"}
        return 200, {
            "aud": client_id,
            "user_id": user_id,
            "iss": "https://www.amazon.com",
            "exp": 3600,
            "app_id": "amzn1.application.x",
        }


class Twitter:
    """verify_credentials: checks the OAuth 1.0a HMAC-SHA1 signature with the consumer and
    token secrets it knows."""

    def __init__(self):
        self.consumers = {}  # consumer key -> secret
        self.tokens = {}  # token -> (secret, consumer key, user id)
        self.standin = StandIn(self._route)
        self.url = self.standin.url + "/1.1/account/verify_credentials.json"

    def _route(self, method, path, query, headers, standin):
        header = headers.get("Authorization", "")
        params = dict(utils.parse_authorization_header(header)) if header else {}
        consumer = params.get("oauth_consumer_key")
        token = params.get("oauth_token")
        known = self.tokens.get(token)
        if consumer not in self.consumers or known is None or known[1] != consumer:
            return 401, {"errors": [{"code": 89, "message": "Invalid or expired token."}]}
        uri = self.url
        normalized = signature.normalize_parameters(
            signature.collect_parameters(
                uri_query="", headers={"Authorization": header}, exclude_oauth_signature=True
            )
        )
        base = signature.signature_base_string(method, signature.base_string_uri(uri), normalized)
        expected = signature.sign_hmac_sha1(base, self.consumers[consumer], known[0])
        if expected != urllib.parse.unquote(params.get("oauth_signature", "")):
            return 401, {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
        return 200, {"id_str": known[2], "screen_name": "someone"}
