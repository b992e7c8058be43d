"""The one answer to "is this backup provably safe?", asked of the destination itself, never of the catalog.

A backup is safe when the destination holds an object at its key with the size and SHA-256 that were
recorded when the file was backed up. The audit reports on it; the clean-up of local and cloud
recordings asks it right before it moves anything to a trash. A destination that cannot answer raises
its DestinationError: the caller says "could not check", never "missing".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from zoomwatch.destinations.base import Destination, hash_stored


class Verdict(str, Enum):
    SAFE = "safe"              # there, same size and SHA-256
    MISSING = "missing"        # nothing at the key
    DIFFERENT = "different"    # something else is there (other size or checksum: corrupt or replaced)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    size: int | None = None        # what the destination holds, when it holds something
    sha256: str | None = None      # its checksum, when it was known or read
    read_back: bool = False        # True when the bytes were read back and hashed

    @property
    def safe(self) -> bool:
        return self.verdict is Verdict.SAFE


def check_backup(destination: Destination, key: str, size: int, sha256: str, *,
                 read_data: bool = False) -> Check:
    """Compare what `destination` holds at `key` with the recorded `size` and `sha256`.

    By default the checksum the store keeps beside the object is trusted (S3 and Supabase metadata); a
    store that keeps none (a folder) is read back. `read_data=True` always reads the bytes back and
    hashes them, which also catches an object corrupted behind unchanged metadata; it asks nothing else of
    the store (one GET per object on S3: the size is counted as the bytes come)."""
    if read_data:
        # the bytes themselves, never the checksum S3 or Supabase keep beside them (unchanged metadata over
        # corrupted or replaced bytes is exactly what a read-back is there to catch)
        found = hash_stored(destination, key, expected_size=size)
        if found is None:
            return Check(Verdict.MISSING)
        stored_size, read_sha = found
        if stored_size > size:  # reading stopped early: the object's own size, for the report
            remote = destination.stat(key)
            return Check(Verdict.DIFFERENT, remote.size if remote else stored_size, None, read_back=True)
        verdict = Verdict.SAFE if (stored_size, read_sha) == (size, sha256) else Verdict.DIFFERENT
        return Check(verdict, stored_size, read_sha, read_back=True)
    remote = destination.stat(key)
    if remote is None:
        return Check(Verdict.MISSING)
    if remote.size != size:
        return Check(Verdict.DIFFERENT, remote.size, remote.sha256)
    if remote.sha256 is not None:
        verdict = Verdict.SAFE if remote.sha256 == sha256 else Verdict.DIFFERENT
        return Check(verdict, remote.size, remote.sha256)
    actual = destination.checksum(key)  # a store that keeps no checksum (a folder) reads the bytes back
    if actual is None:  # deleted between the two requests
        return Check(Verdict.MISSING)
    verdict = Verdict.SAFE if actual == sha256 else Verdict.DIFFERENT
    return Check(verdict, remote.size, actual, read_back=True)
