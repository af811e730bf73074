"""The same two endpoints — an authenticated GET /me and an object detail
GET/PATCH — under every configuration the benchmark compares."""

from knox.auth import TokenAuthentication as KnoxAuthentication
from rest_framework import generics, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.mixins import ConditionalModelMixin
from drf_toctou.permissions import TokenOwnershipPermission
from tests.testapp.models import Note
from tests.testapp.views import NoteSerializer


class BlacklistCheckingAuthentication(JWTAuthentication):
    """What teams build when they want access tokens revocable with simplejwt's
    blacklist app: a query of the blacklist on every request."""

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if BlacklistedToken.objects.filter(token__jti=token["jti"]).exists():
            raise InvalidToken("Token is blacklisted")
        return token


AUTH = {
    "stateless": JWTStatelessUserAuthentication,
    "jwt": JWTAuthentication,
    "blacklist": BlacklistCheckingAuthentication,
    "knox": KnoxAuthentication,
    "toctou": BearerRevalidatingAuthentication,
}


class Me(APIView):
    def get(self, request):
        return Response({"id": getattr(request.user, "pk", None) or request.user.id})


class IsOwner(BasePermission):
    def has_object_permission(self, request, view, obj):
        return obj.owner_id == request.user.pk


class NaiveNoteDetail(generics.RetrieveUpdateAPIView):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [IsOwner]


class ToctouNoteViewSet(ConditionalModelMixin, viewsets.GenericViewSet):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]
    version_field = "version"


def me_view(name):
    return type(f"Me_{name}", (Me,), {"authentication_classes": [AUTH[name]]}).as_view()


def naive_detail(name):
    return type(f"Naive_{name}", (NaiveNoteDetail,), {"authentication_classes": [AUTH[name]]}).as_view()
