"""Ids a clone may own: what lets a record prove it was written by the chain it sits in.

Apart from the journal and its schema because both need it (writing a record, judging one),
and because `prov CMD` makes one per capture: it imports nothing but git's hasher.
"""

from __future__ import annotations

from provgraph.gitio import _hasher


def owned_id(prefix: str, clone_id: str, nonce: str) -> str:
    """The id a record of `clone_id`'s chain with `nonce` may have: `<prefix>-` + 16 hex digits
    of sha256(<clone id>:<nonce>). Another clone cannot make one of this clone's ids without
    breaking SHA-256, and a copy of this clone's record in its chain fails the check."""
    sha256 = _hasher("sha256")  # not hashlib: OpenSSL costs `prov CMD` milliseconds
    return f"{prefix}-" + sha256(f"{clone_id}:{nonce}".encode()).hexdigest()[:16]
