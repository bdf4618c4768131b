"""An uploaded file saved to a file of the request's own, so every pass over it opens its own handle."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import UploadFile

COPY_BLOCK = 1 << 20


def _save(upload: UploadFile, folder: str) -> Path:
    path = Path(folder) / "upload"
    upload.file.seek(0)
    with path.open("wb") as handle:
        shutil.copyfileobj(upload.file, handle, COPY_BLOCK)
    return path


@asynccontextmanager
async def saved_upload(upload: UploadFile) -> AsyncIterator[Path]:
    """The upload's bytes at a path, removed when the request is done with them.

    The spooled upload is one file object; pyarrow readers read ahead on background threads,
    so passes sharing it would move its position under each other.
    """
    with tempfile.TemporaryDirectory(prefix="valuestream-upload-") as folder:
        yield await asyncio.to_thread(_save, upload, folder)
