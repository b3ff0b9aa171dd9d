"""The API's front gate in PostgreSQL: who a key is, and the state of its rate limits and
quotas, shared by every API replica (see `domain.limits` for what counts).

`admit` is the one statement every authenticated request pays: it looks the key up and
charges 1 unit to the key's current minute in the same round trip.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.common.auth import ACTIVE_KEY, hash_key
from services.upload.adapters.postgres import postgres_errors
from services.upload.domain.limits import KeyLimits, RateState

_MAX_KEY_LENGTH = 256

# The key's row; its minute charged by 1 unless the limit is reached (then `used` is NULL).
_ADMIT = f"""
WITH k AS (
    SELECT key_sha256, id, owner, scopes,
           coalesce(rate_per_minute, $2::int) AS rate,
           coalesce(max_concurrent, $3::int) AS concurrent,
           coalesce(monthly_megapixels, $4::float8) AS monthly
    FROM api_keys WHERE key_sha256 = $1 AND {ACTIVE_KEY}
), w AS (
    INSERT INTO api_key_windows AS w (key_sha256, window_start, used)
    SELECT key_sha256, date_trunc('minute', now()), 1 FROM k
    ON CONFLICT (key_sha256, window_start) DO UPDATE SET used = w.used + 1
        WHERE (SELECT rate FROM k) = 0 OR w.used < (SELECT rate FROM k)
    RETURNING used
)
SELECT k.id, k.owner, k.scopes, k.rate, k.concurrent, k.monthly, (SELECT used FROM w) AS used,
       extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float8
           AS reset
FROM k
"""

_CHARGE = """
UPDATE api_key_windows SET used = used + $2
WHERE key_sha256 = $1 AND window_start = date_trunc('minute', now())
RETURNING used
"""

_TAKE_SLOT = """
INSERT INTO api_key_slots (slot_id, key_sha256, expires_at)
SELECT $1, $2, now() + make_interval(secs => $3)
WHERE (SELECT count(*) FROM api_key_slots WHERE key_sha256 = $2 AND expires_at > now()) < $4
RETURNING true
"""

_MONTH = "(date_trunc('month', now() AT TIME ZONE 'UTC'))::date"

_CHARGE_MONTH = f"""
INSERT INTO api_key_months AS m (key_sha256, month, megapixels)
SELECT $1::text, {_MONTH}, $2::float8 WHERE $3::float8 = 0 OR $2::float8 <= $3::float8
ON CONFLICT (key_sha256, month) DO UPDATE SET megapixels = m.megapixels + EXCLUDED.megapixels
    WHERE $3::float8 = 0 OR m.megapixels + EXCLUDED.megapixels <= $3::float8
RETURNING megapixels
"""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's key, and where it stands in its minute."""

    owner: str
    digest: str
    key_id: str
    scopes: frozenset[str]
    limits: KeyLimits
    rate: RateState
    allowed: bool  # False: the minute's units are spent


class KeyGate:
    def __init__(self, pool: asyncpg.Pool, defaults: KeyLimits, slot_lease_seconds: float):
        self._pool = pool
        self._defaults = defaults
        self._lease = slot_lease_seconds

    async def admit(self, key: str | None) -> Caller | None:
        """The caller behind an active key, charged 1 unit; None for a missing, unknown,
        revoked or expired key (nothing is charged then)."""
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        d = self._defaults
        digest = hash_key(key)
        with postgres_errors():
            row = await self._pool.fetchrow(
                _ADMIT, digest, d.rate_per_minute, d.max_concurrent, d.monthly_megapixels
            )
        if row is None:
            return None
        limits = KeyLimits(int(row["rate"]), int(row["concurrent"]), float(row["monthly"]))
        used = row["used"]
        rate = RateState(
            limits.rate_per_minute,
            limits.rate_per_minute if used is None else int(used),
            float(row["reset"]),
        )
        return Caller(
            owner=row["owner"],
            digest=digest,
            key_id=row["id"],
            scopes=frozenset(row["scopes"]),
            limits=limits,
            rate=rate,
            allowed=used is not None,
        )

    async def charge(self, caller: Caller, units: int) -> RateState:
        """Add ``units`` to the caller's minute (an upload's weight beyond its first unit)."""
        if units <= 0 or caller.limits.rate_per_minute == 0:
            return caller.rate
        with postgres_errors():
            used = await self._pool.fetchval(_CHARGE, caller.digest, units)
        if used is None:  # the minute turned meanwhile: the new one starts with these units
            return caller.rate
        return RateState(caller.rate.limit, int(used), caller.rate.reset_seconds)

    async def take_slot(self, caller: Caller) -> uuid.UUID | None:
        """One of the key's concurrent-upload slots, or None when all are taken. A slot is
        leased: one whose replica died is free again after the lease."""
        slot = uuid.uuid4()
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # Serialises the count and the insert per key across replicas.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", caller.digest
                )
                taken = await conn.fetchval(
                    _TAKE_SLOT, slot, caller.digest, self._lease, caller.limits.max_concurrent
                )
        return slot if taken else None

    async def give_slot(self, slot: uuid.UUID) -> None:
        with postgres_errors():
            await self._pool.execute("DELETE FROM api_key_slots WHERE slot_id = $1", slot)

    async def charge_month(self, caller: Caller, megapixels: float) -> bool:
        """Add ``megapixels`` to the key's month; False (nothing added) when that would take
        it over the monthly quota."""
        with postgres_errors():
            total = await self._pool.fetchval(
                _CHARGE_MONTH, caller.digest, megapixels, caller.limits.monthly_megapixels
            )
        return total is not None

    async def refund_month(self, caller: Caller, megapixels: float) -> None:
        with postgres_errors():
            await self._pool.execute(
                f"UPDATE api_key_months SET megapixels = greatest(0, megapixels - $2::float8) "
                f"WHERE key_sha256 = $1 AND month = {_MONTH}",
                caller.digest,
                megapixels,
            )

    async def month_used(self, caller: Caller) -> float:
        with postgres_errors():
            used = await self._pool.fetchval(
                f"SELECT megapixels FROM api_key_months WHERE key_sha256 = $1 AND month = {_MONTH}",
                caller.digest,
            )
        return float(used or 0.0)

    async def sweep(self) -> None:
        """Forget past minutes and expired slots."""
        with postgres_errors():
            await self._pool.execute(
                "DELETE FROM api_key_windows WHERE window_start < now() - interval '10 minutes'"
            )
            await self._pool.execute("DELETE FROM api_key_slots WHERE expires_at < now()")
