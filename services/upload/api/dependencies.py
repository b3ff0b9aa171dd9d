"""FastAPI dependencies: the services built at start-up, and the caller's owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.auth import owner_for_key
from services.upload.adapters.postgres import postgres_errors
from services.upload.composition import Services
from services.upload.domain.errors import ErrorCode, Rejected

bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `Authorization: Bearer <key>` (`clearcut keys create`).",
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_owner(
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The owner of the request's API key; 401 without a valid one."""
    key = credentials.credentials if credentials is not None else None
    with postgres_errors():
        owner = await owner_for_key(services.pool, key)
    if owner is None:
        raise Rejected(
            ErrorCode.UNAUTHORIZED,
            "a valid API key is required: send `Authorization: Bearer <key>`",
        )
    return owner


ServicesDep = Annotated[Services, Depends(get_services)]
OwnerDep = Annotated[str, Depends(get_owner)]
