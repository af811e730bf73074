from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError

from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.state import call_store
from drf_toctou.stores import get_store


class Command(BaseCommand):
    help = "Revoke tokens during an incident: every token of a user, one jti, or one token."

    def add_arguments(self, parser: Any) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--user", help="user id or username: every token of this user")
        group.add_argument("--jti", help="one token id (needs --user-id and --expires-at)")
        group.add_argument("--token", help="one encoded token")
        parser.add_argument("--user-id", help="owner of --jti")
        parser.add_argument("--expires-at", type=int, help="epoch seconds until which --jti stays revoked")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.stdout.write(self.revoke(options))
        except (TokenError, APIException) as e:
            raise CommandError(str(e)) from e

    def revoke(self, options: dict[str, Any]) -> str:
        if options["token"]:
            revoke_token(options["token"])
            return "Token revoked."
        if options["jti"]:
            if not (options["user_id"] and options["expires_at"]):
                raise CommandError("--jti needs --user-id and --expires-at.")
            call_store(get_store().revoke, options["user_id"], options["jti"], options["expires_at"])
            return f"Token {options['jti']} revoked."
        user = self.find_user(options["user"])
        return f"All tokens of user {user.pk} revoked (version {revoke_user_tokens(user)})."

    def find_user(self, ref: str) -> Any:
        model = get_user_model()
        manager = model._default_manager
        found = manager.filter(**{model.USERNAME_FIELD: ref}).first()
        if found is None and ref.isdigit():
            found = manager.filter(pk=int(ref)).first()
        if found is None:
            raise CommandError(f"No user {ref!r}.")
        return found
