"""``python -m producers ingest FILE`` | ``python -m producers simulate --rate N --duration S``."""

from producers.cli import app

if __name__ == "__main__":
    app()
