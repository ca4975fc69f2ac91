"""The one source of randomness: a seeded RNG per lab, forked per consumer.

Theory of operation
-------------------
A lab has one seed.  Each component that needs randomness asks for a *fork* named after
itself (``lab.entropy.fork("dc:DC01")``); a fork's stream depends only on the seed and the
fork's name, so adding a consumer in one place never shifts the values another place sees.
GUIDs, SIDs' sub-authorities, VM-Generation IDs, NTLM challenges and passwords all come
from here, which is why a scenario replays byte-identically from its seed.
"""

from __future__ import annotations

import hashlib
import random
import uuid


class Entropy:
    """A deterministic random source; never reads the OS's entropy."""

    def __init__(self, seed: int | str, *, name: str = "root") -> None:
        self.seed = seed
        self.name = name
        digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
        self._rng = random.Random(int.from_bytes(digest, "big"))

    def fork(self, name: str) -> Entropy:
        """An independent stream named ``name`` under this one."""
        return Entropy(self.seed, name=f"{self.name}/{name}")

    def randbytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def randint(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return self._rng.randint(low, high)

    def choice(self, items: list) -> object:
        return self._rng.choice(items)

    def guid(self) -> uuid.UUID:
        """A version-4 GUID, as Windows' UuidCreate would make."""
        return uuid.UUID(bytes=self._rng.randbytes(16), version=4)

    def password(self, length: int = 120) -> str:
        """A random machine-account-style password (printable, as Windows' are long and random)."""
        alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%&*+-=?@"
        return "".join(self._rng.choice(alphabet) for _ in range(length))
