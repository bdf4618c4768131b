"""The intervals' recalibration state in Redis: one hash per model version, updated atomically.

Keys (under the configured prefix):

- ``{prefix}:calib:{version}``: hash of every band's term at every level (``infra.recalibration.term``,
  e.g. ``90|grade|low``) as ``theta:<term>`` (its log factor), ``sales:<term>`` and ``missed:<term>``
  (sales fed back for valuations in that band, and those outside the served interval). Never expires:
  it is the model's calibration, not a client's data, and it holds no request.
- ``{prefix}:calib:versions``: set of the model versions that have a state.

A sale's update is one Lua script (every term it touches, clipped, with its counters), so API
processes feeding back at once never lose a step; workers read the hash with one HGETALL.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from infra.recalibration import BOUND, Adjustments, all_terms, steps, term
from schemas.calibration import CalibrationPublic, Segment, SegmentCalibration

# KEYS: state hash, versions set; ARGV: bound, version, then (term, step, missed 0|1) per term
_OBSERVE = """
local bound = tonumber(ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
for i = 3, #ARGV, 3 do
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
return 1
"""


class CalibrationStore:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._observe = client.register_script(_OBSERVE)

    def key(self, version: str) -> str:
        return f"{self.prefix}:calib:{version}"

    @property
    def versions_key(self) -> str:
        return f"{self.prefix}:calib:versions"

    async def observe(self, version: str, segment: Segment, missed: Mapping[float, bool], learning_rate: float) -> None:
        """One sale fed back for a valuation of ``version`` in ``segment``; ``missed`` per served level."""
        args: list[str | int] = [repr(BOUND), version]
        for name, step, miss in steps(segment, missed, learning_rate):
            args += [name, repr(step), int(miss)]
        await self._observe(keys=[self.key(version), self.versions_key], args=args)

    async def _raw(self, version: str) -> dict[str, str]:
        raw = await self.client.hgetall(self.key(version))
        return {str(k): str(v) for k, v in raw.items()}

    async def adjustments(self, version: str) -> Adjustments:
        """What a worker serving ``version`` applies (all terms 0 before any feedback)."""
        raw = await self._raw(version)
        return Adjustments({k.removeprefix("theta:"): float(v) for k, v in raw.items() if k.startswith("theta:")})

    async def public(self, version: str, learning_rate: float, price_edges: tuple[float, float]) -> CalibrationPublic:
        raw = await self._raw(version)
        segments = [
            SegmentCalibration(
                level=level,
                grouping=grouping,
                band=band,
                log_factor=float(raw.get(f"theta:{name}", 0.0)),
                sales=int(raw.get(f"sales:{name}", 0)),
                missed=int(raw.get(f"missed:{name}", 0)),
            )
            for level, grouping, band in all_terms()
            for name in (term(level, grouping, band),)
        ]
        return CalibrationPublic(
            model_version=version, learning_rate=learning_rate, price_edges=price_edges, segments=segments
        )

    async def versions(self) -> list[str]:
        return sorted(str(v) for v in await self.client.smembers(self.versions_key))
