"""DELIBERATELY VULNERABLE endpoints — the negative control of the demo and of
the tests. They do the usual thing: plain simplejwt authentication, an owner
check on ``request.user``, then a plain ``update_item`` / ``save()``. Every
TOCTOU scenario of the demo wins against them.

They exist only in the sample project and refuse to load anywhere else.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if not getattr(settings, "SAMPLE_API_VULNERABLE_ENDPOINTS", False) or not settings.SETTINGS_MODULE.startswith("sample_api."):
    raise ImproperlyConfigured("The naive (vulnerable) endpoints exist only in the drf-toctou sample project.")

import boto3  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from drf_spectacular.utils import extend_schema  # noqa: E402
from rest_framework import generics  # noqa: E402
from rest_framework.permissions import BasePermission, IsAuthenticated  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework_simplejwt import views as simplejwt_views  # noqa: E402

from sample_api.api.demo import BEFORE_WRITE, NaiveDemoAuthentication, pause  # noqa: E402
from sample_api.api.models import Note  # noqa: E402
from sample_api.api.serializers import DocumentSerializer, NoteSerializer  # noqa: E402


class IsOwnerOnRequestUser(BasePermission):
    """The usual object check: the owner compared with request.user, set once."""

    def has_object_permission(self, request, view, obj):
        owner = obj.get("owner_id") if isinstance(obj, dict) else obj.owner_id
        return str(owner) == str(request.user.pk)


class NaiveNoteDetail(generics.RetrieveUpdateDestroyAPIView):
    """VULNERABLE: check-then-save() on a note."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    authentication_classes = [NaiveDemoAuthentication]
    permission_classes = [IsAuthenticated, IsOwnerOnRequestUser]

    def perform_update(self, serializer):
        pause(self.request, BEFORE_WRITE)
        serializer.save(version=serializer.instance.version + 1)  # optimistic versioning, done the usual way


class NaiveDocumentDetail(APIView):
    """VULNERABLE: check-then-UpdateItem on a document."""

    authentication_classes = [NaiveDemoAuthentication]
    permission_classes = [IsAuthenticated, IsOwnerOnRequestUser]

    def table(self):
        return boto3.resource("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL,
                              region_name=settings.DYNAMODB_REGION).Table(settings.SAMPLE_API_DOCUMENTS_TABLE)

    @extend_schema(responses=DocumentSerializer)
    def get(self, request, pk):
        item = self.table().get_item(Key={"id": pk}).get("Item")
        if item is None:
            return Response({"detail": "Not found.", "code": "not_found"}, status=404)
        self.check_object_permissions(request, item)
        return Response(DocumentSerializer(item).data)

    @extend_schema(request=DocumentSerializer, responses=DocumentSerializer)
    def patch(self, request, pk):
        table = self.table()
        item = table.get_item(Key={"id": pk}).get("Item")
        if item is None:
            return Response({"detail": "Not found.", "code": "not_found"}, status=404)
        self.check_object_permissions(request, item)
        serializer = DocumentSerializer(item, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        pause(request, BEFORE_WRITE)
        changes = {"title": serializer.validated_data.get("title", item["title"]), "version": item.get("version", 0) + 1}
        table.update_item(Key={"id": pk}, UpdateExpression="SET title = :t, version = :v",
                          ExpressionAttributeValues={":t": changes["title"], ":v": changes["version"]})
        return Response(DocumentSerializer({**item, **changes}).data)


# VULNERABLE: simplejwt's own login and refresh, with ROTATE_REFRESH_TOKENS and
# BLACKLIST_AFTER_ROTATION (the refresh negative control of S7). Its refresh
# checks the blacklist, then blacklists the token: concurrent refreshes of one
# token all pass the check before any of them blacklists it, and each walks
# away with a new refresh token. Wrapped in plain functions so that system
# check drf_toctou.E006, which rightly refuses simplejwt's serializers on a
# token view, does not stop the sample from starting.
_simplejwt_obtain = simplejwt_views.TokenObtainPairView.as_view()
_simplejwt_refresh = simplejwt_views.TokenRefreshView.as_view()


@csrf_exempt
def naive_token_obtain(request, *args, **kwargs):
    return _simplejwt_obtain(request, *args, **kwargs)


@csrf_exempt
def naive_token_refresh(request, *args, **kwargs):
    return _simplejwt_refresh(request, *args, **kwargs)
