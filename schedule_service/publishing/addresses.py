"""Targets never call inside the network: loopback, private, link-local and multicast addresses are refused.

An admin could otherwise aim a webhook at the database (``http://127.0.0.1:5432/``) or the
cloud's metadata service (``http://169.254.169.254/``) and have the scheduler call it. A target's
URL is checked when it is set (:func:`refusal`), and every connection is checked again after
DNS resolution and made to the very address that was checked (:class:`GuardedAdapter`), so a
name that later resolves inside is refused too. ``TARGETS_ALLOW_PRIVATE`` turns both off, for
test setups whose fake targets listen on loopback.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

WHY = "loopback, private, link-local and multicast addresses are refused (TARGETS_ALLOW_PRIVATE allows them)"


def is_inside(address: str) -> bool:
    """Whether an IP address is one a target must never be on."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone names a local link
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def resolve(host: str, port: int) -> list[tuple]:
    """The addresses a name stands for, as ``getaddrinfo`` gives them (TCP only)."""
    return socket.getaddrinfo(host, port, connection.allowed_gai_family(), socket.SOCK_STREAM)


def refusal(url: str) -> str | None:
    """Why a target must not have this URL, or None; a name that does not resolve now is checked when sending."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    try:
        found = [info[4][0] for info in resolve(host, port)]
    except (OSError, UnicodeError):
        return None
    inside = sorted({a for a in found if is_inside(a)})
    if inside:
        return f"{host} is inside the network ({', '.join(inside)}): {WHY}"
    return None


class InsideNetwork(NewConnectionError):
    """A connection refused because the target's name resolved inside the network."""

    def __init__(self, conn, why: str):
        super().__init__(conn, why)
        self.why = why


class _Guarded:
    """Resolve the host, refuse if any address is inside, then connect to a checked address."""

    def _new_conn(self) -> socket.socket:
        try:
            found = resolve(self._dns_host.strip("[]"), self.port)
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        inside = sorted({info[4][0] for info in found if is_inside(info[4][0])})
        if inside:
            raise InsideNetwork(self, f"{self.host} resolves inside the network ({', '.join(inside)}): {WHY}")
        error: OSError | None = None
        for address in dict.fromkeys(info[4][0] for info in found):  # each checked address, in order, once
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as e:
                error = e
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """requests' adapter whose direct connections go only to addresses outside the network."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
