"""What malformed claims raise deep inside simplejwt, PyJWT or the ORM, and the
one place that turns it into a 401: an encoded token parsed here is valid, or
``InvalidToken`` — never a 500.

``datetime.fromtimestamp`` (simplejwt's ``check_exp``) raises ``ValueError``
or ``OverflowError`` for most out-of-range ``exp`` values, but ``OSError``
EOVERFLOW for those between about 6.8e16 and the platform's ``time_t`` limit
(glibc's ``gmtime`` fails there): only that ``OSError`` is a malformed claim;
any other is not ours to hide."""

from __future__ import annotations

import errno
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import Token, UntypedToken

MALFORMED = (TypeError, ValueError, OverflowError, KeyError, AttributeError)


def overflowed(error: OSError) -> bool:
    """A timestamp beyond what the platform's ``gmtime`` can represent."""
    return error.errno == errno.EOVERFLOW


def build(raw: Any, token_class: Any = UntypedToken) -> Token:
    """``token_class(raw)``: malformed claims are ``InvalidToken``; simplejwt's
    own ``TokenError`` (a bad signature, an expired token) passes through."""
    try:
        return token_class(raw)
    except MALFORMED as e:
        raise InvalidToken(str(_("Token is malformed."))) from e
    except OSError as e:
        if not overflowed(e):
            raise
        raise InvalidToken(str(_("Token is malformed."))) from e


def parse_token(raw: Any, token_class: Any = UntypedToken) -> Token:
    """A token whose signature, expiry and type are good (its state unchecked), or 401."""
    try:
        return build(raw, token_class)
    except TokenError as e:
        raise InvalidToken(e.args[0]) from e
