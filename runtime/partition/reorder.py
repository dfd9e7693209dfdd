"""Notifications an attempt may not have seen: what lets its late entries be reordered.

An attempt's ``AppendJournal`` carries ``start``, the journal position it
believes its entries start at. When the partition journaled notifications in
between (a call result, a timer...), the attempt saw them only after its own
entries (they wait in its inbox): the machine then writes the entries first
and those notifications after them, so the journal is exactly what the attempt
saw and a ``ctx.run`` result among the entries stays journaled (ADR 0003,
amendment). That needs the notifications at positions ``start..end``; when
they are not all known, the attempt replays instead.

Owns, per invocation, the notifications journaled since its attempt last
appended entries, with their positions (memory only, bounded). May not read
Redis: the processor's prefetch reads the tail a previous owner journaled
(:meth:`UnseenNotifications.missing` / :meth:`UnseenNotifications.learn`).
"""

from __future__ import annotations

UNSEEN_CAP = 256
"""Notifications remembered per invocation for reordering an attempt's late entries."""

Positioned = tuple[int, bytes]
"""(journal position, entry blob)."""


class UnseenNotifications:
    """Per invocation, the notifications journaled since its attempt last appended."""

    def __init__(self) -> None:
        self._by_invocation: dict[str, list[Positioned]] = {}

    def journaled(self, invocation_id: str, position: int, blob: bytes) -> None:
        """The partition journaled a notification at ``position``."""
        unseen = self._by_invocation.setdefault(invocation_id, [])
        unseen.append((position, blob))
        if len(unseen) > UNSEEN_CAP:
            del unseen[0]  # the attempt replays instead if it had not seen that many

    def reordered(self, invocation_id: str, tail: list[Positioned]) -> None:
        """The notifications went after the attempt's entries: still unseen, here."""
        self._by_invocation[invocation_id] = tail

    def forget(self, invocation_id: str) -> None:
        """All seen (an append started at the journal's end), or the invocation ended."""
        self._by_invocation.pop(invocation_id, None)

    def since(self, invocation_id: str, start: int, journal_len: int) -> list[Positioned] | None:
        """The notifications at positions ``start..journal_len-1``, or None when they are
        not all known (journaled before this owner took over) or ``start`` lies beyond
        the journal."""
        if start > journal_len:
            return None
        unseen = [u for u in self._by_invocation.get(invocation_id, ()) if u[0] >= start]
        if [pos for pos, _ in unseen] != list(range(start, journal_len)):
            return None
        return unseen

    def missing(self, invocation_id: str, start: int, journal_len: int) -> bool:
        """Whether positions ``start..journal_len-1`` must be read from Redis first: this
        owner did not journal them itself (a previous owner did). Not when there are
        more than :data:`UNSEEN_CAP`: the attempt replays, as on the first owner."""
        known = {pos for pos, _ in self._by_invocation.get(invocation_id, ())}
        if all(pos in known for pos in range(start, journal_len)):
            return False
        return journal_len - start <= UNSEEN_CAP

    def learn(self, invocation_id: str, start: int, journal_len: int, tail: list[bytes]) -> None:
        """What Redis holds at ``start..journal_len-1`` (they can only be notifications:
        the attempt's own entries end before ``start``)."""
        if len(tail) == journal_len - start:
            self._by_invocation[invocation_id] = [(start + i, blob) for i, blob in enumerate(tail)]
