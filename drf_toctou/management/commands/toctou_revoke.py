from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError

from drf_toctou.revocation import keep_until, revoke_token, revoke_user_tokens, user_key
from drf_toctou.settings import jwt_settings
from drf_toctou.state import call_store
from drf_toctou.stores import get_store


class Command(BaseCommand):
    help = ("Revoke tokens during an incident: every token of a user (--user-id, --username), one jti "
            "(--jti with --user-id and --expires-at), or one encoded token (--token).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user-id", help="every token of the user with this id (SIMPLE_JWT['USER_ID_FIELD']); "
                                              "with --jti, the user that token belongs to")
        parser.add_argument("--username", help="every token of the user with this username")
        parser.add_argument("--user", help="a username or an id; refused when it could name two users")
        parser.add_argument("--jti", help="one token id (needs --user-id and --expires-at)")
        parser.add_argument("--token", help="one encoded token")
        parser.add_argument("--expires-at", type=int, help="the exp (epoch seconds) of the --jti token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.stdout.write(self.revoke(options))
        except APIException as e:
            raise CommandError(str(e.detail)) from e

    def revoke(self, options: dict[str, Any]) -> str:
        chosen = [name for name in ("token", "jti", "user", "username") if options[name] is not None]
        if not options["jti"] and options["user_id"] is not None:
            chosen.append("user_id")
        if len(chosen) != 1:
            raise CommandError("Give exactly one of --user-id, --username, --user, --jti (with --user-id and "
                               "--expires-at) or --token.")
        if options["token"]:
            return self.revoke_encoded(options["token"])
        if options["jti"]:
            if not (options["user_id"] and options["expires_at"]):
                raise CommandError("--jti needs --user-id and --expires-at.")
            user = self.by_id(options["user_id"])
            if user is None:
                raise CommandError(f"No user with id {options['user_id']!r}: no check would ever read that revocation.")
            call_store(get_store().revoke, user_key(user), options["jti"], keep_until(options["expires_at"]))
            return f"Token {options['jti']} of user {user_key(user)} revoked."
        user = self.find_user(options)
        version = revoke_user_tokens(user)
        return (f"All tokens of user {user.get_username()!r} (id in tokens: {user_key(user)}) revoked "
                f"(version {version}).")

    def find_user(self, options: dict[str, Any]) -> Any:
        if options["user_id"] is not None:
            found = self.by_id(options["user_id"])
            if found is None:
                raise CommandError(f"No user with id {options['user_id']!r}.")
            return found
        if options["username"] is not None:
            found = self.by_username(options["username"])
            if found is None:
                raise CommandError(f"No user named {options['username']!r}.")
            return found
        ref = options["user"]
        named, numbered = self.by_username(ref), self.by_id(ref)
        if named is not None and numbered is not None and named.pk != numbered.pk:
            raise CommandError(f"--user {ref!r} is ambiguous: it is the username of one user and the id of another. "
                               "Use --user-id or --username.")
        if named is None and numbered is None:
            raise CommandError(f"No user {ref!r}.")
        return named or numbered

    def by_id(self, value: str) -> Any:
        model, field = get_user_model(), jwt_settings().USER_ID_FIELD
        try:
            value = model._meta.get_field(field).to_python(value)  # type: ignore[union-attr]
            return model._default_manager.filter(**{field: value}).first()
        except (ValidationError, ValueError, TypeError):
            return None

    def by_username(self, value: str) -> Any:
        model = get_user_model()
        return model._default_manager.filter(**{model.USERNAME_FIELD: value}).first()

    def revoke_encoded(self, raw: str) -> str:
        from drf_toctou.serializers import expired_but_signed

        try:
            revoke_token(raw)
        except TokenError as e:
            if expired_but_signed(raw):
                return "The token has already expired (beyond LEEWAY): nothing to revoke."
            raise CommandError(f"Not a valid token: {e}") from e
        return "Token revoked."
