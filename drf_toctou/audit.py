"""Every refusal, observable: logged on logger ``drf_toctou`` with the reason
code, the user id and a hash of the jti (never the token), and sent as the
``token_rejected`` signal for audit trails::

    from drf_toctou.audit import token_rejected

    @receiver(token_rejected)
    def record(sender, request, reason, user_id, **kwargs): ...
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.dispatch import Signal

from drf_toctou.settings import jwt_settings

logger = logging.getLogger("drf_toctou")

#: Sent with ``request``, ``reason`` (the refusal code) and ``user_id`` (str or None).
token_rejected = Signal()


def claim(token: Any, name: str | None) -> Any:
    payload = getattr(token, "payload", None)
    return payload.get(name) if isinstance(payload, dict) and name else None


def jti_hash(jti: Any) -> str | None:
    """A short, stable, non-reversible handle on a jti for logs."""
    return hashlib.sha256(str(jti).encode()).hexdigest()[:16] if jti is not None else None


def reject(request: Any, reason: str, token: Any = None) -> None:
    """Log and signal one refusal. Never raises."""
    jwt = jwt_settings()
    user_id = claim(token, jwt.USER_ID_CLAIM)
    user_id = str(user_id) if isinstance(user_id, (str, int)) and not isinstance(user_id, bool) else None
    jti = claim(token, jwt.JTI_CLAIM)
    path = getattr(request, "path", "")
    logger.warning("drf_toctou refused %s: reason=%s user_id=%s jti_hash=%s", path, reason, user_id,
                   jti_hash(jti), extra={"reason": reason, "user_id": user_id, "jti_hash": jti_hash(jti)})
    try:
        token_rejected.send(sender=None, request=request, reason=reason, user_id=user_id)
    except Exception:  # a broken receiver must not turn a refusal into a 500
        logger.exception("a token_rejected receiver failed")


def reason_of(error: Exception) -> str:
    """The stable code of an APIException-like refusal."""
    detail = getattr(error, "detail", None)
    if isinstance(detail, dict) and "code" in detail:
        return str(detail["code"])
    codes = error.get_codes() if hasattr(error, "get_codes") else None
    if isinstance(codes, dict):
        return str(codes.get("code", "error"))
    return str(codes or getattr(error, "default_code", "error"))
