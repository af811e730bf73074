"""What both conditional mixins share: the caller's token identity, the fence
in front of every write, ETag headers, and the one place where a failed write
condition becomes an HTTP answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import APIException

from drf_toctou.audit import reason_of, reject
from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.exceptions import (
    NotAuthenticated,
    NotFound,
    NotOwner,
    PreconditionFailed,
    TokenAuthRequired,
    WriteConflict,
)
from drf_toctou.mixins.etag import ANY, make_etag, parse_tags
from drf_toctou.permissions import is_owner, owner_field_of
from drf_toctou.settings import toctou_settings
from drf_toctou.state import (
    PendingCheck,
    TokenIdentity,
    refuse,
    send_recheck,
    take_recheck,
    token_identity,
)

if TYPE_CHECKING:  # the mixins run on DRF generic views and viewsets
    from rest_framework.generics import GenericAPIView as ViewBase
else:
    ViewBase = object

CONDITION_EXCEPTIONS = {"precondition_failed": PreconditionFailed, "write_conflict": WriteConflict}


def raise_for(reason: str, request: Any = None) -> None:
    """The one boundary where a failed write condition becomes an HTTP answer
    (and, for a refusal of the token or of ownership, an audit record)."""
    if reason in ("token_revoked", "token_version_stale", "not_owner"):
        reject(request, reason, getattr(request, "auth", None))
    if reason in ("token_revoked", "token_version_stale"):
        refuse(reason)
    if reason == "not_owner" and not toctou_settings.HIDE_FORBIDDEN_AS_NOT_FOUND:
        raise NotOwner()
    if reason in ("not_found", "not_owner"):
        raise NotFound()
    raise CONDITION_EXCEPTIONS.get(reason, WriteConflict)()


class ConditionalMixinBase(ViewBase):
    """Shared by ``ConditionalModelMixin`` and ``ConditionalDynamoMixin``.

    Subclass hook: ``before_write()`` runs after the object-level checks and
    before the write with its fence (and, without a fence, its final recheck).
    A no-op by default; an instrumentation point.
    """

    owner_field: str | None = None
    version_field: str | None = None

    def get_owner_field(self) -> str:
        return owner_field_of(self)

    def token_identity(self) -> TokenIdentity:
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

    def recheck_token(self) -> TokenIdentity:
        """Ask the store again, now (the shared decision of ``drf_toctou.state``)."""
        self.token_identity()  # a checked token, or a coded refusal
        return self._decide(PendingCheck(self.request.auth))

    def _decide(self, pending: PendingCheck) -> TokenIdentity:
        try:
            return pending.result()
        except APIException as e:
            reject(self.request, reason_of(e), self.request.auth)
            raise

    @contextmanager
    def recheck_with_read(self) -> Iterator[TokenIdentity]:
        """Send the point-of-use recheck before the object's read, so both
        travel at once; the body gets the caller's identity. ``TokenOwnershipPermission``
        takes the answer during DRF's object permissions; if no permission did,
        it is decided here, after the read — a refusal of the token wins over a 404."""
        identity = self.token_identity()  # a checked token, or a coded refusal
        send_recheck(self.request)
        try:
            yield identity
        finally:
            pending = take_recheck(self.request)
            if pending is not None:
                self._decide(pending)

    def ensure_owner(self, content: Any, identity: TokenIdentity) -> None:
        if not is_owner(content, self.get_owner_field(), identity.user_id):
            raise_for("not_owner", self.request)

    def before_write(self) -> None:
        """Called between the object-level checks and the fenced write."""

    # --- conditional requests ------------------------------------------------

    def if_match(self) -> list[str] | None:
        return parse_tags(self.request.headers.get("If-Match"))

    def check_if_match(self, current_etag: str) -> list[str] | None:
        """412 unless ``If-Match`` is absent or names ``current_etag``; return the
        tags so the write can carry the same condition."""
        tags = self.if_match()
        if tags is not None and ANY not in tags and current_etag not in tags:
            raise_for("precondition_failed", self.request)
        return tags

    def wants_no_overwrite(self) -> bool:
        return (self.request.headers.get("If-None-Match") or "").strip() == ANY

    def etag_of(self, content: dict[str, Any]) -> str:
        return make_etag(content, self.version_field)

    def with_etag(self, response: Any, content: dict[str, Any]) -> Any:
        response["ETag"] = self.etag_of(content)
        return response
