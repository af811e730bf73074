"""A store with no round trip, for the benchmark only: what drf-toctou's own
code costs per request, apart from the store's round trip."""

from drf_toctou.stores.base import BaseStore, TokenState

GOOD = TokenState(revoked=False, version=0)


class NoRoundTripStore(BaseStore):
    """Every token is good and every user at version 0, answered from memory."""

    def check(self, user_id: str, jti: str, session: str | None = None) -> TokenState:
        return GOOD

    def current_version(self, user_id: str) -> int:
        return 0

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        raise RuntimeError("the benchmark's store revokes nothing")

    def bump_version(self, user_id: str) -> int:
        raise RuntimeError("the benchmark's store revokes nothing")

    def setup(self) -> str:
        return "NoRoundTripStore: nothing to prepare."


class SequentialRedisStore:
    """RedisStore with the split round trip switched off: the check is asked
    and answered before the user's (or the object's) row is read. Measures
    what the overlap is worth."""

    def __new__(cls, options):
        from drf_toctou.stores.redis import RedisStore

        store = RedisStore(options)
        store.sends_ahead = False  # PendingCheck then asks check() in result(), after the query
        return store
