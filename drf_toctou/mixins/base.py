"""What both conditional mixins share: the caller's identity from the token,
the point-of-use recheck sent with the object's read, the conditions every
write carries, why a write that matched nothing failed, and the one place
where a refused write becomes an HTTP answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.exceptions import (
    NoneMatchPrecondition,
    NotAuthenticated,
    NotFound,
    NotOwner,
    PreconditionFailed,
    TokenAuthRequired,
    TokenRefused,
    WriteConflict,
)
from drf_toctou.mixins.etag import ANY, IfMatch, make_etag, parse_if_match, parse_if_none_match
from drf_toctou.mixins.indirect import IndirectReferences
from drf_toctou.ownership import is_owner
from drf_toctou.refusals import reject
from drf_toctou.settings import toctou_settings
from drf_toctou.state import PendingCheck, TokenIdentity, token_identity
from drf_toctou.stores.base import READ, WRITE

if TYPE_CHECKING:  # the mixins run on DRF generic views and viewsets
    from rest_framework.generics import GenericAPIView as ViewBase
else:
    ViewBase = object

#: The value of ``expected`` for an attribute the stored item must not have.
ABSENT = object()


def expected_state(snapshot: dict[str, Any], user_id: str, owner_field: str, version_field: str | None,
                   if_match: IfMatch) -> dict[str, Any]:
    """What a write requires the stored object to still hold: the caller as
    owner, and the version read (or, without a version field, when If-Match
    named the state read: every attribute as read)."""
    expected = {owner_field: user_id}
    if version_field:
        expected[version_field] = snapshot.get(version_field, ABSENT)
    elif if_match is not None and if_match != ANY:
        expected.update({name: value for name, value in snapshot.items() if name != owner_field})
    return expected


def why_write_failed(current: dict[str, Any] | None, owner_field: str, user_id: str,
                     if_match: IfMatch) -> type[APIException]:
    """The write matched no object: gone (404), not the caller's (404/403),
    changed since read (412 with If-Match, else 409)."""
    if current is None:
        return NotFound
    if not is_owner(current, owner_field, user_id):
        return NotOwner
    return PreconditionFailed if if_match is not None else WriteConflict


class ConditionalMixinBase(IndirectReferences, ViewBase):
    """Shared by ``ConditionalModelMixin`` and ``ConditionalDynamoMixin``.

    Hooks: ``owner_field`` / ``get_owner_field()``, ``version_field``, and
    ``before_write()``; ``reference_codec`` for indirect references
    (``drf_toctou.mixins.indirect``). The mixins act only for a request
    authenticated by ``BearerRevalidatingAuthentication``, and only on the
    caller's objects.
    """

    owner_field: str | None = None
    version_field: str | None = None
    #: The ETag of the object this request read or wrote, sent with a 2xx answer.
    object_etag: str | None = None
    _pending_recheck: PendingCheck | None = None

    def get_owner_field(self) -> str:
        """Override this to choose the owner field per request. Default:
        ``owner_field``, else ``DRF_TOCTOU["OWNER_FIELD"]``."""
        return self.owner_field or toctou_settings.OWNER_FIELD

    def before_write(self) -> None:
        """Override this to run code between the object-level checks and the
        write (with its fence, or its final recheck). A no-op by default."""

    def take_token_recheck(self) -> PendingCheck | None:
        """The point-of-use recheck sent with this request's object read and not
        yet decided (at most once): ``TokenOwnershipPermission`` decides it."""
        pending, self._pending_recheck = self._pending_recheck, None
        return pending

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if self.object_etag and 200 <= response.status_code < 300 and request.method != "DELETE":
            response["ETag"] = self.object_etag
            none_match = parse_if_none_match(request.headers.get("If-None-Match"))
            unchanged = none_match == ANY or self.object_etag in (none_match or [])
            if request.method in ("GET", "HEAD") and unchanged:
                response.status_code, response.data = 304, None  # RFC 9110 §13.1.2: not modified
        return super().finalize_response(request, response, *args, **kwargs)

    # --- the caller ----------------------------------------------------------------

    def _caller(self) -> TokenIdentity:
        """The caller, from the token's own claims — never ``request.user``.
        401 without credentials, 403 ``token_auth_required`` when another
        authentication class let the caller in (views open by their
        permissions): the mixins act only for a checked token."""
        authenticator = getattr(self.request, "successful_authenticator", None)
        if authenticator is None:
            raise NotAuthenticated()
        if not isinstance(authenticator, BearerRevalidatingAuthentication):
            raise TokenAuthRequired()
        return token_identity(self.request.auth)

    def _recheck_token(self) -> TokenIdentity:
        """Ask the store again, now (``drf_toctou.state``'s one decision)."""
        self._caller()
        return self._decide(PendingCheck(self.request.auth))

    def _decide(self, pending: PendingCheck) -> TokenIdentity:
        try:
            return pending.result()
        except APIException as e:
            reject(self.request, e, self.request.auth)
            raise

    @contextmanager
    def _recheck_with_read(self) -> Iterator[TokenIdentity]:
        """Send the point-of-use recheck before the object's read, so both
        travel at once. ``TokenOwnershipPermission`` takes it during DRF's
        object permissions; if none did, it is decided here, after the read —
        a refusal of the token wins over a 404."""
        identity = self._caller()
        purpose = READ if self.request.method in SAFE_METHODS else WRITE
        self._pending_recheck = PendingCheck(self.request.auth, purpose)
        try:
            yield identity
        finally:
            pending = self.take_token_recheck()
            if pending is not None:
                self._decide(pending)

    # --- conditions and refusals ------------------------------------------------------

    def _if_match(self, current_etag: str | None) -> IfMatch:
        """``If-Match`` as parsed (None when absent); 412 unless it names the
        object's current ETag (RFC 9110 §13.1.1: any listed strong tag, or
        ``*``), and 412 when ``If-None-Match`` is ``*`` or names it."""
        none_match = parse_if_none_match(self.request.headers.get("If-None-Match"))
        if none_match and (none_match == ANY or current_etag in none_match):
            self._refuse(NoneMatchPrecondition)  # the object exists, and the write asked that it not (RFC 9110 §13.1.2)
        if_match = parse_if_match(self.request.headers.get("If-Match"))
        if if_match is None or if_match == ANY:
            return if_match
        if current_etag is None or current_etag not in if_match:
            self._refuse(PreconditionFailed)
        return if_match

    def _etag_of(self, content: dict[str, Any]) -> str:
        return make_etag(self.etag_content(content), self.version_field)

    def _ensure_owner(self, content: Any, owner_field: str, identity: TokenIdentity) -> None:
        if not is_owner(content, owner_field, identity.user_id):
            self._refuse(NotOwner)

    def _refuse(self, refusal: type[Exception]) -> None:
        """The one boundary where a refused write becomes an HTTP answer (and,
        for a refusal of the token or of ownership, an audit record)."""
        error = refusal()
        if isinstance(error, (TokenRefused, NotOwner)):
            reject(self.request, error, getattr(self.request, "auth", None))
        if isinstance(error, NotOwner) and toctou_settings.HIDE_FORBIDDEN_AS_NOT_FOUND:
            raise NotFound()
        raise error
