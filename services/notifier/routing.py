"""Who is connected and subscribed to what: the indexes an event is routed through.

Plain data structures, no I/O; the hub keeps the metrics and decides what to send.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.notifier.domain.snapshot import ImageSnapshot
from services.notifier.ports import Client


class Subscriptions:
    """One client's subscriptions and, per image, the snapshot it was last told."""

    __slots__ = ("all", "baselines", "images")

    def __init__(self) -> None:
        self.images: set[str] = set()
        self.all = False
        self.baselines: dict[str, ImageSnapshot] = {}

    @property
    def count(self) -> int:
        return len(self.images) + (1 if self.all else 0)


class RoutingTable:
    def __init__(self, max_connections_per_owner: int) -> None:
        self._max_per_owner = max_connections_per_owner
        self._clients: dict[Client, Subscriptions] = {}
        self._per_owner: dict[str, int] = {}
        self._by_image: dict[str, set[Client]] = {}
        self._all_by_owner: dict[str, set[Client]] = {}

    @property
    def clients(self) -> list[Client]:
        return list(self._clients)

    def subscriptions(self, client: Client) -> Subscriptions | None:
        """The client's subscriptions; None once it is gone."""
        return self._clients.get(client)

    def add(self, client: Client) -> bool:
        """Admit a client; False when its owner already has the most connections allowed."""
        count = self._per_owner.get(client.owner, 0)
        if count >= self._max_per_owner:
            return False
        self._per_owner[client.owner] = count + 1
        self._clients[client] = Subscriptions()
        return True

    def remove(self, client: Client) -> Subscriptions | None:
        """Forget the client and its subscriptions; what they were, or None if unknown."""
        state = self._clients.pop(client, None)
        if state is None:
            return None
        for image_id in state.images:
            _discard(self._by_image, image_id, client)
        if state.all:
            _discard(self._all_by_owner, client.owner, client)
        remaining = self._per_owner[client.owner] - 1
        if remaining:
            self._per_owner[client.owner] = remaining
        else:
            del self._per_owner[client.owner]
        return state

    def add_image(self, client: Client, state: Subscriptions, image_id: str) -> bool:
        """Subscribe to one image; False when it already was."""
        if image_id in state.images:
            return False
        state.images.add(image_id)
        self._by_image.setdefault(image_id, set()).add(client)
        return True

    def remove_image(self, client: Client, state: Subscriptions, image_id: str) -> bool:
        state.baselines.pop(image_id, None)
        if image_id not in state.images:
            return False
        state.images.discard(image_id)
        _discard(self._by_image, image_id, client)
        return True

    def add_all(self, client: Client, state: Subscriptions) -> bool:
        if state.all:
            return False
        state.all = True
        self._all_by_owner.setdefault(client.owner, set()).add(client)
        return True

    def remove_all(self, client: Client, state: Subscriptions) -> bool:
        if not state.all:
            return False
        state.all = False
        _discard(self._all_by_owner, client.owner, client)
        state.baselines = {i: b for i, b in state.baselines.items() if i in state.images}
        return True

    def recipients(self, image_id: str, owner: str) -> Iterable[Client]:
        """Clients subscribed to the image or to all of its owner's images, each once."""
        by_image = self._by_image.get(image_id, ())
        by_owner = self._all_by_owner.get(owner, ())
        if by_image and by_owner:
            return set(by_image) | set(by_owner)
        return list(by_image or by_owner)


def _discard(index: dict[str, set[Client]], key: str, client: Client) -> None:
    members = index.get(key)
    if members is None:
        return
    members.discard(client)
    if not members:
        del index[key]
