"""Every refusal, observable: logged on logger ``drf_toctou`` with the reason
code, the user id and a hash of the jti (never the token), and sent as the
``drf_toctou.signals.token_rejected`` signal for audit trails."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from drf_toctou.exceptions import refusal_code
from drf_toctou.settings import jwt_settings
from drf_toctou.signals import token_rejected

logger = logging.getLogger("drf_toctou")


def claim(token: Any, name: str | None) -> Any:
    payload = getattr(token, "payload", None)
    return payload.get(name) if isinstance(payload, dict) and name else None


def jti_hash(jti: Any) -> str | None:
    """A short, stable, non-reversible handle on a jti for logs."""
    return hashlib.sha256(str(jti).encode()).hexdigest()[:16] if jti is not None else None


def reject(request: Any, refusal: Exception | str, token: Any = None) -> None:
    """Log and signal one refusal (an exception, or its code). Never raises."""
    reason = refusal if isinstance(refusal, str) else refusal_code(refusal)
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
