"""POSTing a webhook with aiohttp, safely: the host name is resolved by a resolver that
refuses the whole lookup when any address it returns is not allowed (see
`domain.targets`), and the connection goes to exactly the addresses it checked, so a name
that resolves differently a moment later (DNS rebinding) cannot slip past. Redirects are
not followed, proxies from the environment are not used, and each POST has one overall
timeout."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from services.webhooks.domain.attempts import AttemptResult
from services.webhooks.domain.targets import Refused, TargetPolicy, check_address

USER_AGENT = "Clearcut-Webhooks/1"


class RefusedAddress(OSError):
    """Raised from the resolver so that aiohttp carries it out; holds the refusal."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(str(refused))
        self.refused = refused


class CheckingResolver(AbstractResolver):
    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                check_address(result["host"], self._policy)
            except Refused as refused:
                raise RefusedAddress(
                    Refused(refused.reason, f"{host} resolves to {refused.detail}")
                ) from None
        return results

    async def close(self) -> None:
        await self._inner.close()


class HttpSender:
    def __init__(self, policy: TargetPolicy, timeout_seconds: float, concurrency: int) -> None:
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=CheckingResolver(self._policy),
            use_dns_cache=False,
            limit=self._concurrency,
            family=socket.AF_UNSPEC,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            trust_env=False,  # never through a proxy named in the environment
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        assert self._session is not None, "start() first"
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        outcome: dict[str, Any] = {}
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
                allow_redirects=False,
            ) as response:
                outcome["status_code"] = response.status
        except aiohttp.ClientConnectorDNSError as exc:
            refused = _refusal(exc)
            if refused is not None:
                outcome.update(error=str(refused), refused=True)
            else:
                outcome["error"] = f"cannot resolve the host: {exc.os_error}"
        except aiohttp.InvalidURL as exc:
            outcome.update(error=f"invalid_url: {exc}", refused=True)
        except TimeoutError:
            outcome["error"] = f"no answer within {self._timeout.total:g} s"
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return AttemptResult(
            started_at=started_at, duration_ms=(time.perf_counter() - clock) * 1000, **outcome
        )


def _refusal(exc: BaseException) -> Refused | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RefusedAddress):
            return seen.refused
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None
