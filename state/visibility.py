"""Who may see what: a viewer sees what its key created; an operator sees everything.

Without API keys every caller is ``anonymous`` and sees everything except what a key created
while keys were on. A record with no owner (sent straight to Kafka) is visible only while keys
are off, or to the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Viewer:
    owner: str
    keys_enabled: bool = False
    operator: bool = False

    @classmethod
    def of(cls, owner: str, keys_enabled: bool, operator_key_id: str = "") -> Viewer:
        return cls(owner, keys_enabled, keys_enabled and bool(operator_key_id) and owner == operator_key_id)

    def sees(self, stored_owner: str | None) -> bool:
        if self.operator:
            return True
        return stored_owner == self.owner or (not stored_owner and not self.keys_enabled)
