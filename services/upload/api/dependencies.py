"""FastAPI dependencies: the services built at start-up, and the caller behind the key.

Every authenticated request goes through `get_caller`: one PostgreSQL statement finds the
key and charges the key's minute (`KeyGate.admit`); the rate state it returns is kept on
the request so that `RateLimitHeaders` adds `X-RateLimit-*` to the response, whatever it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.auth import Scope
from services.upload.adapters.key_gate import Caller
from services.upload.api.middleware import RATE_STATE
from services.upload.composition import Services
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.limits import RateState

bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `Authorization: Bearer <key>` (`clearcut keys create`).",
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def remember_rate(request: Request, rate: RateState) -> None:
    setattr(request.state, RATE_STATE, rate)


async def admit_caller(request: Request, services: Services, key: str | None) -> Caller:
    """The caller behind `key`, charged one unit; 401 without a valid key, 429 when the
    key's minute is spent."""
    caller = await services.gate.admit(key)
    if caller is None:
        raise Rejected(
            ErrorCode.UNAUTHORIZED,
            "a valid API key is required: send `Authorization: Bearer <key>`",
        )
    remember_rate(request, caller.rate)
    if not caller.allowed:
        services.metrics.refusals.labels(ErrorCode.RATE_LIMITED.value).inc()
        raise Rejected(
            ErrorCode.RATE_LIMITED,
            f"this key's {caller.rate.limit} units per minute are spent; retry in "
            f"{caller.rate.reset_after} s",
            retry_after_seconds=caller.rate.reset_after,
            limit=caller.rate.limit,
        )
    return caller


async def get_caller(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller behind the request's `Authorization: Bearer` key (`admit_caller`)."""
    key = credentials.credentials if credentials is not None else None
    return await admit_caller(request, services, key)


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_scope(caller: Caller, scope: Scope) -> str:
    """The caller's owner; 403 when its key lacks `scope`."""
    if scope.value not in caller.scopes:
        raise Rejected(
            ErrorCode.FORBIDDEN,
            f"this API key lacks the scope {scope.value!r} that this request needs",
            scope=scope.value,
        )
    return caller.owner


def _owner_with(scope: Scope) -> Callable[[Caller], Awaitable[str]]:
    async def owner(caller: CallerDep) -> str:
        return require_scope(caller, scope)

    return owner


ServicesDep = Annotated[Services, Depends(get_services)]
OwnerDep = Annotated[str, Depends(_owner_with(Scope.IMAGES_READ))]
WriterDep = Annotated[str, Depends(_owner_with(Scope.IMAGES_WRITE))]
