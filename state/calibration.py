"""The intervals' recalibration state: one hash per model version, updated atomically.

Keys (``state.keys.Keys``): ``calibration(version)``, a hash of every band's term at every level
(``infra.recalibration.term``, e.g. ``90|grade|low``) as ``theta:<term>`` (its log factor),
``sales:<term>`` and ``missed:<term>`` (sales fed back for valuations in that band, and those
outside the served interval); ``calibration_versions``, the set of versions that have one. Both
expire after the retention period without feedback (every sale fed back renews them); they hold
no request id nor house.

A sale's update is one Lua script (every term it touches, clipped, with its counters), so API
processes feeding back at once never lose a step; workers read the hash with one HGETALL.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from infra.recalibration import BOUND, Adjustments, all_terms, steps, term
from schemas.calibration import CalibrationPublic, Segment, SegmentCalibration
from state.errors import guarded
from state.keys import Keys

# KEYS: state hash, versions set; ARGV: bound, version, ttl, then (term, step, missed 0|1) per term
_OBSERVE = """
local bound = tonumber(ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
for i = 4, #ARGV, 3 do
  local name = ARGV[i]
  local theta = tonumber(redis.call('HINCRBYFLOAT', KEYS[1], 'theta:' .. name, ARGV[i + 1]))
  if theta > bound then
    redis.call('HSET', KEYS[1], 'theta:' .. name, ARGV[1])
  elseif theta < -bound then
    redis.call('HSET', KEYS[1], 'theta:' .. name, '-' .. ARGV[1])
  end
  redis.call('HINCRBY', KEYS[1], 'sales:' .. name, 1)
  redis.call('HINCRBY', KEYS[1], 'missed:' .. name, ARGV[i + 2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


class CalibrationStore:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._observe = client.register_script(_OBSERVE)

    @guarded
    async def observe(self, version: str, segment: Segment, missed: Mapping[float, bool], learning_rate: float) -> None:
        """One sale fed back for a valuation of ``version`` in ``segment``; ``missed`` per served level."""
        args: list[str | int] = [repr(BOUND), version, self.ttl_seconds]
        for name, step, miss in steps(segment, missed, learning_rate):
            args += [name, repr(step), int(miss)]
        await self._observe(keys=[self.keys.calibration(version), self.keys.calibration_versions], args=args)

    async def _raw(self, version: str) -> dict[str, str]:
        raw = await self.client.hgetall(self.keys.calibration(version))
        return {str(k): str(v) for k, v in raw.items()}

    @guarded
    async def adjustments(self, version: str) -> Adjustments:
        """What a worker serving ``version`` applies (all terms 0 before any feedback)."""
        raw = await self._raw(version)
        return Adjustments({k.removeprefix("theta:"): float(v) for k, v in raw.items() if k.startswith("theta:")})

    @guarded
    async def public(
        self,
        version: str,
        learning_rate: float,
        price_edges: tuple[float, float],
        start: Mapping[str, float] | None = None,
    ) -> CalibrationPublic:
        """The state of ``version`` by band, beside the ``start`` its model's intervals carry."""
        raw = await self._raw(version)
        start = start or {}
        segments = [
            SegmentCalibration(
                level=level,
                grouping=grouping,
                band=band,
                log_factor=float(raw.get(f"theta:{name}", 0.0)),
                start_log_factor=start.get(name, 0.0),
                sales=int(raw.get(f"sales:{name}", 0)),
                missed=int(raw.get(f"missed:{name}", 0)),
            )
            for level, grouping, band in all_terms()
            for name in (term(level, grouping, band),)
        ]
        return CalibrationPublic(
            model_version=version, learning_rate=learning_rate, price_edges=price_edges, segments=segments
        )

    @guarded
    async def versions(self) -> list[str]:
        return sorted(str(v) for v in await self.client.smembers(self.keys.calibration_versions))
