"""The same two endpoints — an authenticated GET /me and an object detail
GET/PATCH — under every configuration the benchmark compares."""

from knox.auth import TokenAuthentication as KnoxAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as simplejwt_views
from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from drf_toctou.authentication import BearerRevalidatingAuthentication
from tests.testapp import views as test_views


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


# The same views the tests drive: a naive detail (owner check on request.user,
# then save()) and the conditional viewset.
NaiveNoteDetail = test_views.NaiveNoteDetail
ToctouNoteViewSet = test_views.NoteViewSet


def me_view(name):
    return type(f"Me_{name}", (Me,), {"authentication_classes": [AUTH[name]]}).as_view()


def naive_detail(name):
    return type(f"Naive_{name}", (NaiveNoteDetail,), {"authentication_classes": [AUTH[name]]}).as_view()


# simplejwt's own login and refresh, the baselines of the session rows; plain
# functions, so that system check drf_toctou.E006 (simplejwt's serializers on
# a token view) does not stop `migrate`.
_obtain, _refresh = simplejwt_views.TokenObtainPairView.as_view(), simplejwt_views.TokenRefreshView.as_view()


def simplejwt_obtain(request, *args, **kwargs):
    return _obtain(request, *args, **kwargs)


def simplejwt_refresh(request, *args, **kwargs):
    return _refresh(request, *args, **kwargs)


def near_stats(request):
    """The answering worker's near cache counters (no authentication: a
    benchmark's server only)."""
    import os

    from django.http import JsonResponse

    from drf_toctou.stores import get_store

    near = getattr(get_store(), "_near", None)
    return JsonResponse({"pid": os.getpid(), **(near.stats() if near is not None else {})})
