"""When deliveries are attempted: the retry schedule, the lease and the timeouts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from paybridge.events.tail import DEFAULT_GAP_SECONDS, gap_seconds_from_env


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if value < 0:
        raise RuntimeError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timing of delivery. Defaults are production values; tests shrink them.

    With the defaults a failing delivery is retried after 1, 2, 4, ... minutes, each wait at
    most 12 hours, for as long as the next try falls within 3 days of the delivery's creation:
    15 attempts over about 65 hours.
    """

    retry_base: float = 60.0  # seconds before the first retry; doubles after each failure
    retry_factor: float = 2.0
    retry_max_delay: float = 12 * 3600.0
    retry_window: float = 3 * 24 * 3600.0  # no automatic retry later than this after creation
    disable_after: float = 3 * 24 * 3600.0  # an endpoint failing this long is disabled
    timeout: float = 10.0  # per HTTP request
    lease: float = 60.0  # how long a claimed delivery is reserved for its worker
    gap_timeout: float = DEFAULT_GAP_SECONDS  # how long fan-out waits for a missing event id

    def __post_init__(self) -> None:
        if self.lease <= self.timeout:
            raise ValueError("the claim lease must be longer than the HTTP timeout")
        if self.retry_factor < 1:
            raise ValueError("retry_factor must be at least 1")

    @classmethod
    def from_env(cls) -> DeliveryPolicy:
        """Read `PAYBRIDGE_WEBHOOK_*` overrides (seconds) from the environment."""
        d = cls()
        return cls(
            retry_base=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_BASE_SECONDS", d.retry_base),
            retry_factor=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_FACTOR", d.retry_factor),
            retry_max_delay=_env_seconds(
                "PAYBRIDGE_WEBHOOK_RETRY_MAX_DELAY_SECONDS", d.retry_max_delay
            ),
            retry_window=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_WINDOW_SECONDS", d.retry_window),
            disable_after=_env_seconds("PAYBRIDGE_WEBHOOK_DISABLE_AFTER_SECONDS", d.disable_after),
            timeout=_env_seconds("PAYBRIDGE_WEBHOOK_TIMEOUT_SECONDS", d.timeout),
            lease=_env_seconds("PAYBRIDGE_WEBHOOK_LEASE_SECONDS", d.lease),
            gap_timeout=gap_seconds_from_env(),
        )

    def retry_delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th failure (1, 2, ...)."""
        exponent = max(failed_attempts - 1, 0)
        return min(self.retry_base * self.retry_factor**exponent, self.retry_max_delay)

    def schedule(self) -> list[float]:
        """Offsets (seconds after creation) of every attempt of a delivery that always fails."""
        offsets, at, failures = [0.0], 0.0, 0
        while True:
            failures += 1
            at += self.retry_delay(failures)
            if at > self.retry_window or failures > 1000:
                return offsets
            offsets.append(at)
