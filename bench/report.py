"""docs/BENCHMARKS.md from one run. Every ratio and added time is computed
within one block (in process: the configurations interleaved request by
request) or one round (end to end) and printed as its median and
interquartile range over them; a target counts as met only when the upper
quartile (q3) meets it. A failed measurement is listed as failed, never as a
row with a ratio."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time

from bench.configs import (
    BASE_DETAIL,
    BASE_ME,
    BLACKLIST_ME,
    DATABASE_ME,
    IN_CONTEXT,
    KNOX_ME,
    NEAR_DETAIL,
    NEAR_ME,
    NO_TRIP_DETAIL,
    NO_TRIP_ME,
    REDIS_DETAIL,
    REDIS_DETAIL_UNIX,
    REDIS_ME,
    REDIS_ME_UNIX,
    SEQUENTIAL_DETAIL,
    SEQUENTIAL_ME,
    TIGHT,
    UNIX,
)
from bench.e2e import EndToEnd
from bench.inprocess import FLOOR_REPEAT, REPEAT, Samples
from bench.stats import Spread, at_most, below, differences, ratios


class Missing(Exception):
    """A quantity that needs a failed (or absent) measurement."""


def paired(samples: Samples, *labels: str) -> list[list[float]]:
    """The values of ``labels``, block by block (each block measured them all)."""
    for label in labels:
        if label in samples.failed:
            raise Missing(f"not measured: “{label}” failed")
    columns = samples.paired(*labels)
    if not columns[0]:
        raise Missing("not measured: " + ", ".join(f"“{label}”" for label in labels) + " never in one block")
    return columns


def added(samples: Samples, a: str, b: str, via: str | None = None) -> Spread:
    """a − b per block; for two labels of different stores (never in one
    block), per round through ``via``, a label measured in both blocks."""
    if via is None:
        return Spread.of(differences(*paired(samples, a, b)))
    paired(samples, a, via)
    paired(samples, b, via)
    return Spread.of(samples.via(a, b, via))


def over_floor(samples: Samples, a: str, b: str, floor: str) -> Spread:
    """(a − b) / floor per block."""
    xs, ys, floors = paired(samples, a, b, floor)
    return Spread.of(ratios(differences(xs, ys), floors))


def relative(samples: Samples, a: str, b: str) -> Spread:
    """(a − b) / b per block."""
    xs, ys = paired(samples, a, b)
    return Spread.of(ratios(differences(xs, ys), ys))


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def failures(failed: dict[str, object]) -> list[str]:
    if not failed:
        return []
    return ["**Failed measurements** (a configuration with any non-2xx response, error or timeout is not a "
            "result; fix it and re-run):", "", *(f"- {label}: {why}" for label, why in failed.items()), ""]


# --- in process ----------------------------------------------------------------------


def in_process_rows(samples: Samples, bases: dict[str, str]) -> list[list[str]]:
    rows = []
    for label in samples.labels:
        if label in samples.failed or not samples.values(label):
            continue
        ratio = "—"
        if label in bases:
            try:
                ratio = Spread.of(ratios(*paired(samples, label, bases[label]))).fmt(unit="×")
            except Missing as missing:
                ratio = str(missing)
        rows.append([label, Spread.of(samples.values(label)).fmt(1e3, 3), ratio])
    return rows


def floor_target(what: str, samples: Samples, a: str, b: str, floor: str, limit: float,
                 floor_name: str = "floor") -> list[str]:
    try:
        ratio = over_floor(samples, a, b, floor)
        return [what, added(samples, a, b).fmt(1e6, 0, " µs"), ratio.fmt(unit=f"× {floor_name}"),
                f"≤ {limit}× {floor_name}", verdict(at_most(ratio, limit))]
    except Missing as missing:
        return [what, str(missing), "", f"≤ {limit}× {floor_name}", verdict(False)]


def versus(what: str, samples: Samples, a: str, b: str, goal: str, tolerance: float = 0.0) -> list[str]:
    """``a`` faster than ``b`` (with a tolerance: no slower than ``b`` by more
    than that fraction), per round: (a − b) / b."""
    try:
        change = relative(samples, a, b)
        met = at_most(change, tolerance) if tolerance else below(change, 0.0)
        return [what, f"{added(samples, a, b).fmt(1e6, 0, ' µs', sign=True)} per request",
                change.fmt(100, 1, " %", sign=True), goal, verdict(met)]
    except Missing as missing:
        return [what, str(missing), "", goal, verdict(False)]


def versus_across(what: str, samples: Samples, a: str, b: str, via: str, goal: str) -> list[str]:
    """``a`` faster than ``b`` for two configurations of different stores
    (never in one block): (a − via) − (b − via) per round, ``via`` measured in
    both blocks, as a fraction of (b − via)'s median."""
    try:
        difference = added(samples, a, b, via=via)
        base = added(samples, b, via)
        return [what, f"{difference.fmt(1e6, 0, ' µs', sign=True)} per request",
                f"{difference.median / base.median * 100:+.1f} % of the added time without it (across blocks)",
                goal, verdict(below(difference, 0.0))]
    except Missing as missing:
        return [what, str(missing), "", goal, verdict(False)]


def targets(samples: Samples, per_token: float) -> list[list[str]]:
    context = "the same, against the floor in context"
    unix = "same over a unix socket (against the unix floor)"
    return [
        floor_target("added time of authentication (RedisStore TCP − JWTAuthentication)", samples, REDIS_ME,
                     BASE_ME, TIGHT, 1.2),
        floor_target(context, samples, REDIS_ME, BASE_ME, IN_CONTEXT, 1.2, "floor in context"),
        floor_target(unix, samples, REDIS_ME_UNIX, BASE_ME, UNIX, 1.2),
        floor_target("added time of auth + recheck + conditional read (detail GET − naive)", samples, REDIS_DETAIL,
                     BASE_DETAIL, TIGHT, 2.4),
        floor_target(context, samples, REDIS_DETAIL, BASE_DETAIL, IN_CONTEXT, 2.4, "floor in context"),
        floor_target(unix, samples, REDIS_DETAIL_UNIX, BASE_DETAIL, UNIX, 2.4),
        floor_target("near cache: added time of authentication (RedisStore TCP near cache − JWTAuthentication)",
                     samples, NEAR_ME, BASE_ME, TIGHT, 0.2),
        floor_target("near cache: added time of the detail GET (− naive)", samples, NEAR_DETAIL, BASE_DETAIL,
                     TIGHT, 0.4),
        versus("RedisStore vs knox (GET /me)", samples, REDIS_ME, KNOX_ME, "faster"),
        versus("RedisStore vs blacklist query (GET /me)", samples, REDIS_ME, BLACKLIST_ME, "faster"),
        versus("DatabaseStore vs knox (GET /me)", samples, DATABASE_ME, KNOX_ME,
               "no slower (≤ +2 %: measurement tolerance)", tolerance=0.02),
        versus_across("the overlap: RedisStore vs the same, check not overlapped (GET /me)", samples, REDIS_ME,
                      SEQUENTIAL_ME, BASE_ME, "faster"),
        versus_across("the overlap: detail GET vs the same, checks not overlapped", samples, REDIS_DETAIL,
                      SEQUENTIAL_DETAIL, BASE_DETAIL, "faster"),
        ["Redis memory per revoked token", f"{per_token:.0f} bytes", "(one measurement)", "≤ 120 bytes",
         verdict(per_token <= 120)],
    ]


def split(samples: Samples) -> list[list[str]]:
    def us(a: str, b: str, suffix: str = "", via: str | None = None) -> str:
        try:
            return added(samples, a, b, via).fmt(1e6, 0, " µs") + suffix
        except Missing as missing:
            return str(missing)

    try:
        floors = " / ".join(Spread.of(paired(samples, f)[0]).fmt(1e6, 0, " µs") for f in (TIGHT, IN_CONTEXT))
    except Missing as missing:
        floors = str(missing)
    return [
        ["drf-toctou's own code (the store with no round trip − the baseline)", us(NO_TRIP_ME, BASE_ME),
         us(NO_TRIP_DETAIL, BASE_DETAIL)],
        ["the round trips as paid inside the request (RedisStore TCP − the store with no round trip)",
         us(REDIS_ME, NO_TRIP_ME, " (1 round trip)", BASE_ME),
         us(REDIS_DETAIL, NO_TRIP_DETAIL, " (2 round trips)", BASE_DETAIL)],
        ["the same over a unix socket", us(REDIS_ME_UNIX, NO_TRIP_ME, via=BASE_ME),
         us(REDIS_DETAIL_UNIX, NO_TRIP_DETAIL, via=BASE_DETAIL)],
        ["the floor: bare MGET in a tight loop (TCP) / between requests", floors, "(2 round trips: 2 × that)"],
    ]


def gaps(samples: Samples) -> list[str]:
    """For each floor target missed (upper quartile above it), where its time went."""
    cases = [("authentication", REDIS_ME, BASE_ME, NO_TRIP_ME, REDIS_ME_UNIX, 1, 1.2),
             ("the detail GET (authentication + recheck)", REDIS_DETAIL, BASE_DETAIL, NO_TRIP_DETAIL,
              REDIS_DETAIL_UNIX, 2, 2.4)]
    lines = []
    for what, redis_tcp, base, no_trip, redis_unix, trips, limit in cases:
        try:
            ratio = over_floor(samples, redis_tcp, base, TIGHT)
            if at_most(ratio, limit):
                continue
            unix_ratio = over_floor(samples, redis_unix, base, UNIX)
            tight, in_context = (Spread.of(paired(samples, f)[0]).median for f in (TIGHT, IN_CONTEXT))
            lines.append(
                f"**Gap: {what} over TCP, {ratio.fmt(unit='×')} the floor (target {limit}×, met only when "
                f"q3 ≤ {limit}).** Of its {added(samples, redis_tcp, base).fmt(1e6, 0, ' µs')}, "
                f"{added(samples, no_trip, base).fmt(1e6, 0, ' µs')} is drf-toctou's own code (the "
                f"no-round-trip row) and {added(samples, redis_tcp, no_trip, base).fmt(1e6, 0, ' µs')} the {trips} round "
                f"trip{'s' * (trips > 1)} as paid inside the request, against a tight-loop floor of "
                f"{tight * 1e6:.0f} µs each (median). The tight loop keeps the CPU caches and the kernel's socket "
                f"path warm; the same MGET timed between requests costs {in_context * 1e6:.0f} µs. Overlapping "
                f"hides the round trip's wait, not the work of writing and reading a loopback TCP socket with cold "
                f"caches. Over a unix socket: {unix_ratio.fmt(unit='×')} its floor"
                f"{' (met)' if at_most(unix_ratio, limit) else ''}.")
            lines.append("")
        except Missing:
            continue
    return lines


# --- end to end -------------------------------------------------------------------------


def e2e_rows(e2e: EndToEnd, bases: dict[str, str]) -> list[list[str]]:
    rows = []
    for label, runs in e2e.runs.items():
        base = bases.get(label)
        if base in e2e.failed:
            ratio = f"not measured: “{base}” failed"
        elif base in e2e.runs:
            ratio = Spread.of(ratios([r.rps for r in runs], [r.rps for r in e2e.runs[base]])).fmt(unit="×")
        else:
            ratio = "—"
        rows.append([label, Spread.of([r.rps for r in runs]).fmt(digits=0), ratio,
                     Spread.of([r.p50_ms for r in runs]).fmt(unit=" ms"),
                     Spread.of([r.p99_ms for r in runs]).fmt(unit=" ms")])
    return rows


def e2e_section(e2e: EndToEnd, bases: dict[str, str], rounds: int, seconds: int) -> list[str]:
    from bench.e2e import CONNECTIONS, THREADS, WORKERS

    head = (f"## End to end: gunicorn ({WORKERS} sync workers) under wrk ({THREADS} threads, {CONNECTIONS} "
            f"connections)")
    if e2e.skipped:
        return [head, "", f"({e2e.skipped})", ""]
    return [head, "", f"{rounds} rounds of {seconds} s wrk runs per endpoint, alternating; a token minted right "
            "before each run. Throughput ratios are per round, to plain simplejwt JWTAuthentication (detail "
            "rows: to the naive detail GET).", "",
            *table(["endpoint", "requests/s", "throughput ratio", "p50", "p99"], e2e_rows(e2e, bases)), "",
            *failures(e2e.failed)]


# --- the document -------------------------------------------------------------------------


def report(*, samples: Samples, bases: dict[str, str], stores: list, rounds: int, block: int, quick: bool, trips,
           redis_rows, per_token: float, db_rows, purge_seconds: float, deletes: int, big: int, sessions: list[str],
           near: list[str], e2e: EndToEnd,
           e2e_bases: dict[str, str], e2e_rounds: int, e2e_seconds: int) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"redis-server {redis_version()}, database {db_vendor()}. "
        f"In process: {rounds} rounds after a warm-up round; a round is one block per store "
        f"({', '.join(str(store) for store in stores)}), a block {block} cycles after a warm-up cycle"
        + (" (BENCH_QUICK: a short run)." if quick else "."),
        "",
        "**How to read the figures.** Configurations are interleaved in short runs (a cycle runs, in shuffled "
        f"order, {REPEAT} timed requests after one warm-up request of every configuration of the block's store "
        f"and of every one with no store, and {FLOOR_REPEAT} MGETs of each floor), so the machine's drift, tens of "
        "per cent from one second to the next on this shared 2-core machine, falls alike on both sides of every "
        "comparison. Every ratio and added time is computed within one block (two rows of different stores: "
        "within one round, each against the baseline of its own block), then summarised as its median with the "
        "interquartile range in brackets (q1–q3); **a target counts as met only when its upper quartile (q3) "
        "meets it**. A configuration's time in a block is the mean of its timed requests, with the garbage "
        "collector off and fresh tokens. Every response is checked: a configuration with any non-2xx response is "
        "a failed measurement, listed as such and never given a ratio.",
        "",
        "## Per request, in process (each view called directly with a request from APIRequestFactory)",
        "",
        *table(["configuration", "ms/request", "ratio to plain simplejwt"], in_process_rows(samples, bases)),
        "",
        "Ratios of `/me` rows are to `simplejwt JWTAuthentication (baseline)`; detail and PATCH rows to the naive "
        "detail GET.",
        "",
        *failures({label: str(f) for label, f in samples.failed.items()}),
        "## Targets",
        "",
        *table(["what", "added time per request", "against the floor (or relative difference)", "target",
                "met (q3)"], targets(samples, per_token)),
        "",
        "## Where the added time goes",
        "",
        *table(["part", "GET /me", "detail GET"], split(samples)),
        "",
        "drf-toctou writes the store's command before the user's row (authentication) or the object's row (the "
        "point-of-use recheck) is read and reads the reply after, so the round trip's wait overlaps that query; "
        "what remains of a round trip inside a request is the work of writing and reading the socket.",
        "",
        *gaps(samples),
        "## Round trips per check, counted on the wire",
        "",
        *table(["store", "authentication", "point-of-use recheck"], [[s, a, r] for s, a, r in trips]),
        "",
        "## Check cost with revocations stored (one `check()`, median)",
        "",
        *table(["revoked tokens", "RedisStore µs", "DatabaseStore µs"],
               [[f"{n:,}", f"{r * 1e6:.0f}", f"{d * 1e6:.0f}"] for (n, r), (_, d) in zip(redis_rows, db_rows,
                                                                                     strict=True)]),
        "",
        f"DatabaseStore purge of {big:,} expired rows: {purge_seconds:.1f} s in {deletes} DELETE statements "
        f"(batches of 5,000).",
        "",
        *sessions,
        *near,
        *e2e_section(e2e, e2e_bases, e2e_rounds, e2e_seconds),
    ]
    return "\n".join(lines)


def redis_version() -> str:
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=([\d.]+)", out)
    return found.group(1) if found else "?"


def db_vendor() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        return "sqlite " + ".".join(map(str, connection.Database.sqlite_version_info))
    return connection.vendor
