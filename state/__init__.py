"""The one owner of shared state (Redis): every key, retention, visibility rule and erase lives here.

No other package imports ``redis``; they call the repositories of a ``State``.
"""

from state.errors import StoreUnavailableError
from state.feed import FeedEntry
from state.jobs import StoredJob
from state.predictions import PartOfJobError
from state.store import State
from state.visibility import ANONYMOUS, Viewer

__all__ = ["ANONYMOUS", "FeedEntry", "PartOfJobError", "State", "StoreUnavailableError", "StoredJob", "Viewer"]
