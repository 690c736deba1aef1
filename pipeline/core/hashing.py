"""File hashes: the sha256 of a file, a folder's digest and a file's version (its sha256 or `absent`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

HASH_CHUNK_BYTES = 1 << 20
ABSENT = "absent"


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def file_version(path: Path) -> str:
    """A file's sha256, or `absent` when there is no such file."""
    return sha256_of(path) if path.is_file() else ABSENT


def folder_digest(folder: Path) -> str:
    """One sha256 over the names and sha256s of every file in a folder, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(item for item in folder.rglob("*") if item.is_file() and "__pycache__" not in item.parts):
        digest.update(f"{path.relative_to(folder).as_posix()}={sha256_of(path)}\n".encode())
    return digest.hexdigest()
