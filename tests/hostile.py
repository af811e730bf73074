"""A corpus of hostile bearer inputs: each a named case, its Authorization
header built against a real user, and the refusal it must get."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from django.conf import settings


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(user_id: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"token_type": "access", "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex, "user_id": user_id, "ver": 0}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not REMOVE}


REMOVE = object()


def signed(payload: dict[str, Any], key: str | None = None, headers: dict | None = None) -> str:
    return jwt.encode(payload, key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256", headers=headers)


def raw_signed(payload_json: str, header: dict | None = None) -> str:
    """Sign a payload given as raw JSON text (for values json.dumps can't write)."""
    import hashlib
    import hmac

    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(payload_json.encode())
    mac = hmac.new(settings.SIMPLE_JWT["SIGNING_KEY"].encode(), f"{head}.{body}".encode(), hashlib.sha256)
    return f"{head}.{body}.{b64(mac.digest())}"


def unsigned(payload: dict[str, Any], alg: str) -> str:
    return f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}."


def flip_last(token: str) -> str:
    head, body, sig = token.split(".")
    return f"{head}.{body}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


Case = tuple[str, Callable[[int], str], int, set[str]]
INVALID = {"token_not_valid"}
BAD_HEADER = {"bad_authorization_header"}
UNAUTHENTICATED = {"not_authenticated"}


def bearer(build: Callable[[int], str]) -> Callable[[int], str]:
    return lambda uid: f"Bearer {build(uid)}"


CASES: list[Case] = [
    *[(f"alg_{alg}", bearer(lambda uid, a=alg: unsigned(claims(uid), a)), 401, INVALID)
      for alg in ("none", "None", "NONE", "nOnE")],
    ("wrong_key", bearer(lambda uid: signed(claims(uid), key="another-key-of-sufficient-length-0123")), 401, INVALID),
    ("hs512_not_configured", bearer(lambda uid: jwt.encode(claims(uid), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")), 401, INVALID),
    ("empty_signature", bearer(lambda uid: signed(claims(uid)).rsplit(".", 1)[0] + "."), 401, INVALID),
    ("truncated_signature", bearer(lambda uid: signed(claims(uid))[:-6]), 401, INVALID),
    ("flipped_signature", bearer(lambda uid: flip_last(signed(claims(uid)))), 401, INVALID),
    ("two_segments", bearer(lambda uid: signed(claims(uid)).rsplit(".", 1)[0]), 401, INVALID),
    ("four_segments", bearer(lambda uid: signed(claims(uid)) + ".abc"), 401, INVALID),
    ("not_base64", bearer(lambda uid: "!!!.@@@.###"), 401, INVALID),
    ("nul_bytes", bearer(lambda uid: signed(claims(uid))[:20] + "\x00" + signed(claims(uid))[20:]), 401, INVALID),
    ("non_ascii", bearer(lambda uid: "é" + signed(claims(uid))), 401, INVALID),
    ("expired", bearer(lambda uid: signed(claims(uid, exp=int(time.time()) - 10))), 401, INVALID),
    ("nbf_in_future", bearer(lambda uid: signed(claims(uid, nbf=int(time.time()) + 3600))), 401, INVALID),
    ("missing_exp", bearer(lambda uid: signed(claims(uid, exp=REMOVE))), 401, INVALID),
    ("missing_jti", bearer(lambda uid: signed(claims(uid, jti=REMOVE))), 401, INVALID),
    ("missing_user_id", bearer(lambda uid: signed(claims(REMOVE))), 401, INVALID),
    ("refresh_as_access", bearer(lambda uid: signed(claims(uid, token_type="refresh"))), 401, INVALID),
    *[(f"user_id_{name}", bearer(lambda uid, v=value: signed(claims(v))), 401, INVALID | {"user_not_found"})
      for name, value in [("null", None), ("true", True), ("list", [1]), ("object", {"id": 1}),
                          ("non_numeric", "abc"), ("huge", 10**40), ("float", 1.5), ("long", "9" * 5000),
                          ("negative", -1), ("empty", "")]],
    ("user_id_1e400", bearer(lambda uid: raw_signed(json.dumps(claims(0)).replace('"user_id": 0', '"user_id": 1e400'))), 401, INVALID),
    *[(f"jti_{name}", bearer(lambda uid, v=value: signed(claims(uid, jti=v))), 401, INVALID)
      for name, value in [("null", None), ("int", 5), ("list", ["a"]), ("object", {}), ("empty", ""), ("long", "j" * 300)]],
    *[(f"ver_{name}", bearer(lambda uid, v=value: signed(claims(uid, ver=v))), 401, INVALID | {"token_version_stale"})
      for name, value in [("null", None), ("string", "0"), ("negative", -1), ("float", 0.0), ("true", True),
                          ("list", [0]), ("object", {}), ("huge", 2**80), ("newer", 7)]],
    *[(f"exp_{name}", bearer(lambda uid, v=value: signed(claims(uid, exp=v))), 401, INVALID)
      for name, value in [("string", "tomorrow"), ("list", [1]), ("null", None), ("object", {}), ("huge", 10**30),
                          ("eoverflow", 10**17), ("found_by_hypothesis", 67768036191676800)]],
    ("exp_1e400", bearer(lambda uid: raw_signed(json.dumps(claims(uid)).replace('"exp": ', '"exp": 1e400, "x": '))), 401, INVALID),
    *[(f"token_type_{name}", bearer(lambda uid, v=value: signed(claims(uid, token_type=v))), 401, INVALID)
      for name, value in [("null", None), ("list", ["access"]), ("object", {}), ("int", 1)]],
    ("deeply_nested_claim", bearer(lambda uid: raw_signed(json.dumps(claims(uid))[:-1] + ', "deep": ' + nested(5000) + "}")), 401, INVALID),
    ("payload_not_object", bearer(lambda uid: raw_signed("[1, 2, 3]")), 401, INVALID),
    ("crit_unknown", bearer(lambda uid: signed(claims(uid), headers={"crit": ["exp-x"], "exp-x": 1})), 401, INVALID),
    ("multi_megabyte", bearer(lambda uid: signed(claims(uid, pad="x" * 3_000_000))), 401, INVALID),
    ("header_scheme_only", lambda uid: "Bearer", 401, BAD_HEADER),
    ("header_two_tokens", lambda uid: f"Bearer {signed(claims(uid))} {signed(claims(uid))}", 401, BAD_HEADER),
    ("header_tab_separator", lambda uid: f"Bearer\t{signed(claims(uid))}", 401, UNAUTHENTICATED | BAD_HEADER),
    ("header_other_scheme", lambda uid: f"Basic {b64(b'alice:alice-password')}", 401, UNAUTHENTICATED),
    ("header_lowercase_scheme", lambda uid: f"bearer {signed(claims(uid))}", 401, UNAUTHENTICATED),
    ("header_empty", lambda uid: "", 401, UNAUTHENTICATED),
]

# kid/jku/x5u/jwk headers must never pick a key: signed with our key they are
# harmless extras (accepted); signed with another key they are refused.
KEY_HEADER_CASES: list[Case] = [
    (f"{name}_header_other_key", bearer(lambda uid, h=header: signed(claims(uid), key="attacker-key-0123456789-abcdefghij", headers=h)), 401, INVALID)
    for name, header in [("kid", {"kid": "../../dev/null"}), ("jku", {"jku": "http://127.0.0.1:1/jwks"}),
                         ("x5u", {"x5u": "http://127.0.0.1:1/x5u"}),
                         ("jwk", {"jwk": {"kty": "oct", "k": b64(b"attacker-key-0123456789-abcdefghij")}})]
]
