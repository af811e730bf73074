"""The options of ``RedisStore``'s near cache (``near_cache``), validated:
an unknown key or a value of the wrong type is ``ImproperlyConfigured``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from drf_toctou.settings import unknown_keys
from drf_toctou.stores.base import AUTHENTICATION, READ
from drf_toctou.stores.redis_checks import check_pool

DEFAULTS: dict[str, Any] = {"max_entries": 100_000, "max_staleness": 0.005, "purposes": [AUTHENTICATION, READ]}


def store_options(options: dict[str, Any], cluster: bool) -> dict[str, Any] | None:
    """The near cache's options from RedisStore's, or None when it is off."""
    given = options.get("near_cache")
    if given is None or given is False:
        return None
    if cluster:
        raise ImproperlyConfigured("RedisStore 'near_cache' works on plain Redis and Sentinel, not with 'cluster' "
                                   "(a slot moved to a master it does not track could not be proven fresh).")
    if options.get("client") is not None and check_pool(options["client"], sentinel=True) is None:
        raise ImproperlyConfigured("RedisStore 'near_cache' needs a client with a plain redis-py ConnectionPool "
                                   "or a Sentinel master's pool (Sentinel.master_for).")
    return parse_options({} if given is True else given)


def parse_options(given: Any) -> dict[str, Any]:
    """Validated ``near_cache`` options, defaults filled in."""
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"RedisStore 'near_cache' must be a dict, not {given!r}.")
    unknown = unknown_keys(given, DEFAULTS)
    if unknown:
        raise ImproperlyConfigured(f"Unknown RedisStore 'near_cache' key(s): {', '.join(unknown)}.")
    options = {**DEFAULTS, **given}
    entries, staleness, purposes = options["max_entries"], options["max_staleness"], options["purposes"]
    if type(entries) is not int or entries < 1:
        raise ImproperlyConfigured(f"'near_cache' 'max_entries' must be a positive int, not {entries!r}.")
    if type(staleness) not in (int, float) or not 0.001 <= staleness <= 1:
        raise ImproperlyConfigured(f"'near_cache' 'max_staleness' must be seconds in [0.001, 1] (below a "
                                   f"millisecond the cache is never proven fresh), not {staleness!r}.")
    if not isinstance(purposes, (list, tuple, set, frozenset)) or not set(purposes) <= {AUTHENTICATION, READ} \
            or not purposes:
        raise ImproperlyConfigured(f"'near_cache' 'purposes' must list {AUTHENTICATION!r} and/or {READ!r} "
                                   f"(a write's recheck never uses the cache; leave 'near_cache' out to turn "
                                   f"it off), not {purposes!r}.")
    return {"max_entries": entries, "max_staleness": float(staleness), "purposes": frozenset(purposes)}
