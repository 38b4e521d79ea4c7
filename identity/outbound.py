"""Fetches of URLs that someone configured: OpenID Connect discovery documents and keys, the
login providers' endpoints, the site's social sign-in (`GuardedSession`), Sync Trigger
webhooks. Cognate never connects to a loopback,
private, link-local, unique-local, cloud metadata or otherwise internal address for them
unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES is set (local development and tests only).

The address is checked on the socket actually connected (the name is resolved once, here, and
the socket connects to an address that passed), so a name that resolves elsewhere a moment
later gains nothing. TLS is still verified against the URL's host name. Every fetch has one
deadline for all of it (resolving, connecting, sending, reading) and a bound on the size of
the answer, and follows redirects only within its own scheme, host and port.
"""

import ipaddress
import json
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

SETTING = "COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES"
OLDER_SETTING = "SYNC_TRIGGER_ALLOW_PRIVATE_ADDRESSES"
REDIRECTS = (301, 302, 303, 307, 308)
READ_SIZE = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_net = ipaddress.ip_network
_METADATA = {
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
}
_PRIVATE = (_net("10.0.0.0/8"), _net("172.16.0.0/12"), _net("192.168.0.0/16"))
_SHARED = _net("100.64.0.0/10")
_UNIQUE_LOCAL = _net("fc00::/7")
_NAT64 = _net("64:ff9b::/96")
_NAT64_LOCAL = _net("64:ff9b:1::/48")


class OutboundError(Exception):
    """A fetch that gave no usable answer; `message` says why, for a person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Refused(OutboundError):
    """The URL's address (or where it redirects) is one Cognate does not fetch."""


class Unreachable(OutboundError):
    """The host could not be resolved or connected to, or broke off its answer."""


class TimedOut(OutboundError):
    """The whole fetch did not finish within its time."""


class TooLarge(OutboundError):
    """The answer was larger than the fetch allows."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The body decoded as JSON (ValueError when it is not)."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def address_kind(ip: Address) -> str | None:
    """What makes `ip` internal ("a loopback address", ...), or None for a public address.
    IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are
    judged by the address they carry."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _carried(ip.ipv4_mapped, "IPv4-mapped")
        if ip in _NAT64:
            return _carried(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64")
        if ip.sixtofour is not None and (kind := _carried(ip.sixtofour, "6to4")):
            return kind
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return _carried(ipaddress.IPv4Address(int(ip)), "IPv4-compatible") or (
                "a reserved address"
            )
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _UNIQUE_LOCAL:
            return "a unique-local address"
        if ip.is_site_local:
            return "a site-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if any(ip in network for network in _PRIVATE):
            return "a private address"
        if ip in _SHARED:
            return "a shared (carrier-grade NAT) address"
    if ip.is_reserved or ip.is_private or not ip.is_global:
        return "a reserved address"
    return None


def _carried(ip: ipaddress.IPv4Address, form: str) -> str | None:
    kind = address_kind(ip)
    return f"{kind} ({ip}) in {form} form" if kind else None


def _ip(text: str) -> Address:
    return ipaddress.ip_address(text.split("%", 1)[0])


def _literal(host: str) -> Address | None:
    try:
        return _ip(host)
    except ValueError:
        return None


def _local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _described(host: str, ip: Address, kind: str) -> str:
    literal = _literal(host)
    if literal is not None and literal == ip:
        return f"{host} is {kind}"
    return f"{host} resolves to {ip}, {kind}"


def _why_refused(described: str, *, by_setting: bool) -> str:
    if by_setting:
        return (
            f"{described}; Cognate does not connect to internal addresses unless "
            f"{SETTING}=true (local development and tests only)"
        )
    return described


def allowed_private() -> bool:
    """Whether the setting (or its older name, from when only webhooks were checked) allows
    internal addresses."""
    return bool(getattr(settings, SETTING, False)) or bool(getattr(settings, OLDER_SETTING, False))


def refusal(
    url: str, *, resolve: bool = True, timeout: float = 5.0, allow_private: bool | None = None
) -> str | None:
    """Why a fetch of `url` would be refused, naming the setting that would allow it; None
    when it may be fetched. `allow_private` decides instead of the setting where given (the
    answer then names no setting). With `resolve`, a host name is looked up (within
    `timeout`); a name that does not resolve is not refused here, as the fetch checks the
    address it connects to again."""
    by_setting = allow_private is None
    if allowed_private() if by_setting else allow_private:
        return None
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None  # not a URL at all: the caller's own checks say so
    if _local_name(host):
        return _why_refused(f"{host} is a loopback name", by_setting=by_setting)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    elif resolve and host:
        try:
            addresses = [_ip(info[4][0]) for info in _resolve(host, None, timeout)]
        except (OSError, UnicodeError, ValueError):
            return None
    else:
        return None
    for ip in addresses:
        kind = address_kind(ip)
        if kind:
            return _why_refused(_described(host, ip, kind), by_setting=by_setting)
    return None


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of `url`, the port filled in for http and https; empty parts
    for what is not a URL."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return "", "", None
    return parts.scheme, (parts.hostname or "").rstrip(".").lower(), port


def fetch(
    method: str,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: Any = None,
    redirects: int = 0,
    allow_private: bool | None = None,
) -> Answer:
    """Fetch `url` within `timeout` seconds in all, reading at most `max_bytes` of answer,
    following up to `redirects` redirects within the URL's origin. Internal addresses are
    refused unless `allow_private` (by default the setting) allows them. Raises Refused,
    Unreachable, TimedOut or TooLarge; any HTTP status is an Answer."""
    by_setting = allow_private is None
    allow = allowed_private() if allow_private is None else allow_private
    deadline = time.monotonic() + timeout
    start = origin(url)
    sent = {"User-Agent": "Cognate/1", "Accept-Encoding": "identity", **(headers or {})}
    with requests.Session() as session:
        session.trust_env = False  # no proxies or .netrc from the environment
        adapter = _GuardedAdapter(allow=allow, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        hops = 0
        while True:
            answer = _fetch_once(
                session,
                method,
                url,
                body=body,
                headers=sent,
                params=params,
                auth=auth,
                deadline=deadline,
                timeout=timeout,
                max_bytes=max_bytes,
                by_setting=by_setting,
            )
            location = answer.headers.get("Location")
            if answer.status not in REDIRECTS or not location or hops >= redirects:
                return answer
            target = urljoin(url, location)
            if origin(target) != start:
                raise Refused(
                    f"{url} redirects to {target}, another origin; Cognate follows redirects "
                    "only within the same scheme, host and port"
                )
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
            url, params, hops = target, None, hops + 1


def _fetch_once(
    session: requests.Session,
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    params: Mapping[str, str] | None,
    auth: Any,
    deadline: float,
    timeout: float,
    max_bytes: int,
    by_setting: bool,
) -> Answer:
    def timed_out() -> TimedOut:
        return TimedOut(f"{url} did not answer within {timeout:g} seconds")

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise timed_out()
    try:
        response = session.request(
            method,
            url,
            data=body,
            headers=dict(headers),
            params=params,
            auth=auth,
            # One total for resolving, connecting, sending and the answer's head (requests
            # hands a urllib3 Timeout through as it is; its stubs do not say so).
            timeout=urllib3.Timeout(total=remaining),  # type: ignore[arg-type]
            allow_redirects=False,
            stream=True,
        )
    except _AddressRefused as refused:
        raise Refused(_why_refused(refused.described, by_setting=by_setting)) from None
    except requests.Timeout:
        raise timed_out() from None
    except requests.RequestException as error:
        raise Unreachable(f"{url} could not be reached ({_cause(error)})") from None
    with response:
        content = _body(response, url, deadline, timeout=timeout, max_bytes=max_bytes)
        return Answer(response.status_code, response.headers, content, url)


def _body(
    response: requests.Response, url: str, deadline: float, *, timeout: float, max_bytes: int
) -> bytes:
    """The answer's body by `deadline` and within `max_bytes`, or TooLarge, TimedOut (naming
    `timeout`) or Unreachable."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise TooLarge(f"{url} answered with more than {max_bytes} bytes")
    try:
        content = _read(response.raw, deadline, max_bytes)
    except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise TimedOut(f"{url} did not answer within {timeout:g} seconds") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise Unreachable(f"{url} broke off its answer ({_cause(error)})") from None
    if len(content) > max_bytes:
        raise TooLarge(f"{url} answered with more than {max_bytes} bytes")
    return content


def _read(raw: urllib3.HTTPResponse, deadline: float, max_bytes: int) -> bytes:
    """The body, read in pieces so the whole fetch keeps to its deadline: before each read
    the socket may wait only for what is left (a per-read timeout alone lets a slow drip run
    on). At most one piece beyond `max_bytes` is read."""
    connection = raw.connection
    chunks, size = [], 0
    while size <= max_bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(min(READ_SIZE, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _cause(error: BaseException) -> str:
    """A few words on why a connection failed, from requests' and urllib3's wrappers."""
    reason: BaseException = error
    while True:
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
        elif isinstance(reason, requests.RequestException) and reason.args:
            if not isinstance(reason.args[0], BaseException):
                break
            reason = reason.args[0]
        else:
            break
    if isinstance(reason, NameResolutionError):
        return "its host name does not resolve"
    if isinstance(reason, urllib3.exceptions.SSLError | requests.exceptions.SSLError):
        return "TLS failed"
    if isinstance(reason, NewConnectionError):
        return "no connection"
    return reason.__class__.__name__


# --- Connections that check the address they connect to ------------------------------------
class RefusedAddress(requests.ConnectionError):
    """A connection refused by the address check, raised by `session()` as requests' own
    error so code written for requests (django-allauth) handles it as it handles any other
    unreachable provider."""


class AnswerTooLarge(requests.RequestException):
    """An answer over the session's bound, raised by `session()`."""


_AS_REQUESTS_ERROR: dict[type, type[requests.RequestException]] = {
    TooLarge: AnswerTooLarge,
    TimedOut: requests.Timeout,
    Unreachable: requests.ConnectionError,
}


class GuardedSession(requests.Session):
    """A requests session for code that makes its own requests calls (django-allauth's
    social sign-in): its connections are checked as `fetch` checks them, every call has a
    timeout for its head and another for its body, redirects are followed at most
    `redirects` times (each one's connection checked again), and every answer, redirects
    included, is read up to `max_bytes`. No proxies or .netrc from the environment."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int,
        redirects: int = 3,
        allow_private: bool | None = None,
    ):
        super().__init__()
        self.trust_env = False
        self.max_redirects = redirects
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.by_setting = allow_private is None
        allow = allowed_private() if allow_private is None else allow_private
        adapter = _GuardedAdapter(allow=allow, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers.update({"User-Agent": "Cognate/1", "Accept-Encoding": "identity"})
        self.hooks["response"].append(self._read_bounded)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def send(self, request, **kwargs):  # type: ignore[override]
        try:
            return super().send(request, **kwargs)
        except _AddressRefused as refused:
            why = _why_refused(refused.described, by_setting=self.by_setting)
            raise RefusedAddress(why, request=request) from None

    def _read_bounded(self, response: requests.Response, **kwargs) -> requests.Response:
        """Read the body now (requests runs response hooks before it reads one), within the
        bounds; requests then finds it read."""
        deadline = time.monotonic() + self.timeout
        try:
            content = _body(
                response, response.url, deadline, timeout=self.timeout, max_bytes=self.max_bytes
            )
        except OutboundError as error:
            response.close()
            raise _AS_REQUESTS_ERROR[type(error)](error.message) from None
        response._content = content
        response._content_consumed = True
        return response


class _AddressRefused(Exception):
    """Raised inside urllib3 when every address of a host is internal. Deliberately not an
    OSError, so neither urllib3 nor requests retries or rewraps it."""

    def __init__(self, described: str):
        super().__init__(described)
        self.described = described


def _resolve(host: str, port: int | None, timeout: float | None) -> list:
    """getaddrinfo within `timeout` (it has no timeout of its own). The lookup runs in a
    thread of its own, which a stuck resolver keeps but the caller does not wait for."""
    if _literal(host) is not None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=lookup, name="cognate-resolve", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"resolving {host} took longer than {timeout} seconds")
    if "error" in outcome:
        error = outcome["error"]
        raise error if isinstance(error, OSError) else socket.gaierror(str(error))
    return outcome["infos"]


def _connect(conn: HTTPConnection, allow: bool) -> socket.socket:
    """Resolve the connection's host, drop internal addresses (unless allowed), connect to
    the first remaining address that answers, and check the peer of the connected socket."""
    host = conn._dns_host
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    deadline = None if timeout is None else time.monotonic() + timeout
    if not allow and _local_name(host):
        raise _AddressRefused(f"{host} is a loopback name")
    try:
        infos = _resolve(host, conn.port, timeout)
    except socket.gaierror as error:
        raise NameResolutionError(conn.host, conn, error) from error
    except TimeoutError as error:
        raise ConnectTimeoutError(conn, f"Resolving {host} timed out.") from error
    refused: str | None = None
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        ip = _ip(sockaddr[0])
        internal = None if allow else address_kind(ip)
        if internal:
            refused = refused or _described(host, ip, internal)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
            peer = _ip(sock.getpeername()[0])
        except TimeoutError as error:
            sock.close()
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={timeout})"
            ) from error
        except OSError as error:
            sock.close()
            failure = error
            continue
        internal = None if allow else address_kind(peer)
        if internal:
            sock.close()
            raise _AddressRefused(_described(host, peer, internal))
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    if failure is not None or refused is None:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {failure}")
    raise _AddressRefused(refused)


class _GuardedHTTPConnection(HTTPConnection):
    allow_private = False

    def _new_conn(self) -> socket.socket:
        return _connect(self, self.allow_private)


class _GuardedHTTPSConnection(HTTPSConnection):
    allow_private = False

    def _new_conn(self) -> socket.socket:
        return _connect(self, self.allow_private)


def _pools(allow: bool) -> dict[str, type]:
    http = type("HTTPConnection", (_GuardedHTTPConnection,), {"allow_private": allow})
    https = type("HTTPSConnection", (_GuardedHTTPSConnection,), {"allow_private": allow})
    return {
        "http": type("HTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("HTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


_POOLS = {allow: _pools(allow) for allow in (False, True)}


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter with connections that check their addresses."""

    def __init__(self, *, allow: bool, **kwargs):
        self.allow = allow
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS[self.allow]
