"""Who is looking: with API keys configured the dashboard acts for a key, like any API client.

The key is asked for once per browser session, checked against the configured hashes, kept in
the session (never logged, never shown) and sent as ``X-API-Key`` with every submit and upload.
Every page then shows only what that key created; the operator key id sees everything.
Without keys nothing changes: everyone is ``anonymous`` and sees everything.
"""

from __future__ import annotations

import streamlit as st

from dashboard.context import settings
from infra.api_keys import KeyRing
from state import ANONYMOUS, Viewer

SESSION_KEY = "api_key"


@st.cache_resource(show_spinner=False)
def _keyring(salt: str, spec: str) -> KeyRing:
    return KeyRing(salt, spec)


def keyring() -> KeyRing:
    conf = settings()
    return _keyring(conf.api_key_salt.get_secret_value(), conf.api_keys)


def api_key() -> str | None:
    """The session's key, to send to the API (None without keys)."""
    key = st.session_state.get(SESSION_KEY)
    return str(key) if key else None


def current() -> Viewer | None:
    """The session's viewer; None while keys are on and no valid key was given."""
    ring = keyring()
    if not ring.enabled:
        return Viewer(ANONYMOUS)
    key = api_key()
    key_id = ring.identify(key) if key else None
    return None if key_id is None else Viewer.of(key_id, True, settings().api_operator_key_id)


def sign_in() -> Viewer | None:
    """The sidebar's key field (only when keys are configured); the viewer, or None to stop the page."""
    if not keyring().enabled:
        return current()
    with st.sidebar:
        viewer = current()
        if viewer is not None:
            st.caption(f"Signed in as **{viewer.owner}**{' (operator)' if viewer.operator else ''}.")
            if st.button("Sign out", key="sign_out"):
                st.session_state.pop(SESSION_KEY, None)
                st.rerun()
            return viewer
        entered = st.text_input("API key", type="password", key="api_key_input")
        if entered:
            if keyring().identify(entered) is None:
                st.error("That key is not valid.")
            else:
                st.session_state[SESSION_KEY] = entered
                st.session_state.pop("api_key_input", None)
                st.rerun()
    st.info("This dashboard needs an API key: enter yours in the sidebar. You will see only what your key created.")
    return None


def viewer() -> Viewer:
    """The session's viewer on a page (the app signs in before any page runs)."""
    found = current()
    if found is None:
        st.stop()
    assert found is not None
    return found
