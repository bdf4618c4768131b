"""Moves of the champion alias between versions: promote the challenger, roll back to the previous champion.

The registry keeps no history of alias moves, so each move leaves two marks: the new champion is
tagged with the version it replaced (``VersionTag.PREVIOUS_CHAMPION``, which ``rollback`` returns
to), and the registered model gets a ``rollout_<epoch ms>`` tag holding the ``RolloutEvent`` (the
log the API and the dashboard show). Workers see either move at their next poll of the alias.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog

from infra.settings import Settings
from registry.client import configure
from registry.errors import NoVersionError, RegistryError
from registry.tags import VersionTag
from registry.versions import version_under
from schemas.messages import utc_now
from schemas.rollout import RolloutEvent, RolloutPublic

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = structlog.get_logger(__name__)

EVENT_PREFIX = "rollout_"


def version_of(client: MlflowClient, settings: Settings, alias: str) -> str | None:
    """The version number under ``alias``, or None when no version holds it."""
    try:
        return str(version_under(client, settings, alias).version)
    except NoVersionError:
        return None


def _record(client: MlflowClient, settings: Settings, event: RolloutEvent) -> RolloutEvent:
    key = f"{EVENT_PREFIX}{int(event.at.timestamp() * 1000)}"
    client.set_registered_model_tag(settings.model_name, key, event.model_dump_json())
    log.info(
        "champion_moved",
        action=event.action,
        from_version=event.from_version,
        to_version=event.to_version,
        forced=event.forced,
        reason=event.reason,
    )
    return event


def promote_challenger(settings: Settings, reason: str, *, forced: bool = False) -> RolloutEvent:
    """The challenger becomes champion (the challenger alias is removed); the old champion is remembered."""
    client = configure(settings)
    challenger = version_of(client, settings, settings.challenger_alias)
    if challenger is None:
        raise NoVersionError(f"no version holds models:/{settings.model_name}@{settings.challenger_alias}")
    previous = version_of(client, settings, settings.model_alias)
    now = utc_now()
    name = settings.model_name
    if previous is not None:
        client.set_model_version_tag(name, challenger, VersionTag.PREVIOUS_CHAMPION, previous)
    if forced:
        client.set_model_version_tag(name, challenger, VersionTag.FORCED_REASON, reason)
    client.set_model_version_tag(name, challenger, VersionTag.PROMOTED_AT, now.isoformat())
    client.set_registered_model_alias(name, settings.model_alias, challenger)
    client.delete_registered_model_alias(name, settings.challenger_alias)
    event = RolloutEvent(
        action="promote", at=now, from_version=previous, to_version=challenger, forced=forced, reason=reason
    )
    return _record(client, settings, event)


def rollback(settings: Settings, reason: str = "rollback") -> RolloutEvent:
    """The champion alias returns to the version the current champion replaced."""
    client = configure(settings)
    current = version_under(client, settings, settings.model_alias)
    previous = (current.tags or {}).get(VersionTag.PREVIOUS_CHAMPION)
    if not previous:
        raise RegistryError(f"version {current.version} replaced no earlier champion: nothing to roll back to")
    now = utc_now()
    name = settings.model_name
    client.set_model_version_tag(name, str(current.version), VersionTag.ROLLED_BACK_AT, now.isoformat())
    client.set_model_version_tag(name, previous, VersionTag.PROMOTED_AT, now.isoformat())
    client.set_registered_model_alias(name, settings.model_alias, previous)
    event = RolloutEvent(
        action="rollback", at=now, from_version=str(current.version), to_version=previous, reason=reason
    )
    return _record(client, settings, event)


def events(client: MlflowClient, settings: Settings, limit: int = 20) -> list[RolloutEvent]:
    """The newest promotions and rollbacks, newest first."""
    tags = client.get_registered_model(settings.model_name).tags or {}
    found = []
    for key, value in tags.items():
        if key.startswith(EVENT_PREFIX):
            try:
                found.append(RolloutEvent.model_validate(json.loads(value)))
            except ValueError:
                continue
    return sorted(found, key=lambda e: e.at, reverse=True)[:limit]


def describe_rollout(client: MlflowClient, settings: Settings) -> RolloutPublic:
    """The rollout as the registry knows it: mode and share (settings), the challenger's version, the moves."""
    return RolloutPublic(
        mode=settings.rollout_mode,
        share=settings.rollout_share,
        challenger=version_of(client, settings, settings.challenger_alias),
        events=events(client, settings),
    )
