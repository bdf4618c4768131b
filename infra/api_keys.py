"""API keys: the configured key hashes and the check of a presented key, shared by the API and the
dashboard (both act for the key's owner). ``python -m infra.api_keys KEY_ID KEY`` prints the
``key_id:hash`` pair to configure."""

from __future__ import annotations

import hashlib
import hmac
import sys

from infra.settings import Settings


def hash_key(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


class KeyRing:
    """The configured key hashes; ``identify`` returns the key id of a presented key, or None."""

    def __init__(self, salt: str, spec: str) -> None:
        self.salt = salt
        self.hashes: list[tuple[str, str]] = []
        for pair in filter(None, (p.strip() for p in spec.split(","))):
            key_id, _, digest = pair.partition(":")
            if not key_id or len(digest) != 64:
                raise ValueError("api_keys must be comma-separated 'key_id:sha256hex' pairs")
            self.hashes.append((key_id, digest.lower()))

    @classmethod
    def of(cls, settings: Settings) -> KeyRing:
        return cls(settings.api_key_salt.get_secret_value(), settings.api_keys)

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    def identify(self, key: str) -> str | None:
        presented = hash_key(self.salt, key)
        found = None
        for key_id, digest in self.hashes:  # no early exit: the time taken does not say which key matched
            if hmac.compare_digest(presented, digest):
                found = key_id
        return found


def main(argv: list[str]) -> None:
    from infra.settings import get_settings

    if len(argv) != 2:
        raise SystemExit("usage: python -m infra.api_keys KEY_ID KEY")
    key_id, key = argv
    print(f"{key_id}:{hash_key(get_settings().api_key_salt.get_secret_value(), key)}")


if __name__ == "__main__":
    main(sys.argv[1:])
