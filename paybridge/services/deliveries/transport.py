"""The outgoing HTTP of a delivery: the private-address guard that pins a URL to a checked
public address, the client (no redirects, no proxies), and one POST whose network trouble is
part of its result."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from paybridge.db import utcnow
from paybridge.outbound import (
    AddressRefused,
    ip_literal,
    private_addresses_allowed,
    public_addresses,
)
from paybridge.services.deliveries.claims import Claim
from paybridge.services.deliveries.policy import DeliveryPolicy
from paybridge.services.deliveries.signing import signed_headers

EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def resolve_target(url: str) -> Target:
    """Check `url` and pin it to a checked IP address.

    The host is resolved once here; every address must be public, and the request goes to the
    first one with the original Host header (and TLS server name), so a DNS answer that
    changes between the check and the connection cannot redirect the request inside the
    network. With `PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE=1` nothing is checked or pinned.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise AddressRefused(f"invalid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs receive webhooks")
    host = parsed.host
    if not host:
        raise AddressRefused("the URL has no host")
    if private_addresses_allowed():
        return Target(url=str(parsed), headers={}, extensions={})
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = public_addresses(host, port)
    if ip_literal(host) is not None:  # nothing to pin
        return Target(url=str(parsed), headers={}, extensions={})
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(
        url=str(parsed.copy_with(host=addresses[0])),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions=extensions,
    )


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: str | None
    started_at: datetime


def make_client(policy: DeliveryPolicy, *, max_connections: int = 20) -> httpx.Client:
    """The HTTP client for deliveries: no redirects, no proxies from the environment, and
    TCP_NODELAY (httpcore writes headers and body separately; with Nagle's algorithm the body
    of a request on a kept-alive connection can wait ~40 ms for the receiver's delayed ACK)."""
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        retries=0,
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(policy.timeout),
        follow_redirects=False,
        trust_env=False,
    )


def send_attempt(claim: Claim, *, client: httpx.Client, policy: DeliveryPolicy) -> AttemptResult:
    """POST one signed attempt. Never raises for network trouble: it is part of the result."""
    started = utcnow()
    clock = time.monotonic()
    status: int | None = None
    excerpt = ""
    error: str | None = None
    try:
        target = resolve_target(claim.url)
        signed = signed_headers(
            claim.body,
            claim.secrets,
            event_id=claim.event_id,
            delivery_id=claim.delivery_id,
            attempt_number=claim.attempt_number,
        )
        headers = {**signed, **target.headers}
        deadline = clock + policy.timeout
        with client.stream(
            "POST",
            target.url,
            content=claim.body,
            headers=headers,
            extensions=target.extensions,
            follow_redirects=False,
        ) as response:
            status = response.status_code
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= EXCERPT_CHARS * 4 or time.monotonic() > deadline:
                    break
            excerpt = b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
    except AddressRefused as refused:
        error = str(refused)
    except httpx.TimeoutException:
        error = f"timed out after {policy.timeout:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    duration_ms = int((time.monotonic() - clock) * 1000)
    succeeded = error is None and status is not None and 200 <= status < 300
    return AttemptResult(
        succeeded=succeeded,
        status_code=status,
        duration_ms=duration_ms,
        response_excerpt=excerpt,
        error=error[:255] if error else None,
        started_at=started,
    )
