"""The protected endpoints: drf-toctou's authentication, the point-of-use
recheck, and the conditional mixins."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from drf_toctou.mixins import ConditionalDynamoMixin, ConditionalModelMixin
from drf_toctou.permissions import TokenOwnershipPermission
from drf_toctou.references import SealedReferenceCodec
from sample_api.api.demo import BEFORE_WRITE, pause
from sample_api.api.models import Note
from sample_api.api.serializers import DocumentSerializer, MeSerializer, NoteSerializer, TransferSerializer


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class DemoPauseMixin:
    def before_write(self):
        pause(self.request, BEFORE_WRITE)


class NoteViewSet(DemoPauseMixin, ConditionalModelMixin, viewsets.ModelViewSet):
    """Notes in the ORM: filtered conditional UPDATE/DELETE, fenced by DatabaseStore."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]
    version_field = "version"

    @extend_schema(request=TransferSerializer, responses=NoteSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Give the note to another user (a conditional update of the owner)."""
        target = TransferSerializer(data=request.data)
        target.is_valid(raise_exception=True)
        serializer = self.get_serializer(self.get_object(), data={}, partial=True)
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer, owner_id=target.validated_data["to"].pk)
        return Response(serializer.data)


class DocumentViewSet(DemoPauseMixin, ConditionalDynamoMixin, viewsets.GenericViewSet):
    """Documents in DynamoDB: conditional writes, fenced with DynamoDBStore;
    every write stamped with its writer (for the Streams watcher), opaque
    per-user references instead of keys."""

    serializer_class = DocumentSerializer
    permission_classes = [TokenOwnershipPermission]
    version_field = "version"
    owner_index = "by_owner"
    lookup_value_regex = "[A-Za-z0-9_-]{1,200}"
    stamp_writes = True
    transfer_actions = ("transfer",)
    reference_codec = SealedReferenceCodec()
    reference_scope = "documents"

    @property
    def table_name(self):
        return settings.SAMPLE_API_DOCUMENTS_TABLE

    @extend_schema(request=TransferSerializer, responses=DocumentSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Give the document to another user (a conditional update of the owner)."""
        target = TransferSerializer(data=request.data)
        target.is_valid(raise_exception=True)
        item = self.update_item(self.get_object(), {self.get_owner_field(): str(target.validated_data["to"].pk)})
        return Response(self.get_serializer(item).data)
