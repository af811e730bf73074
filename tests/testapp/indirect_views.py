"""Views of the defence-in-depth tests: writer stamps (the Streams watcher's
input) and indirect references, on DynamoDB and on the ORM."""

from rest_framework.decorators import action
from rest_framework.response import Response

from drf_toctou.references import MappedReferenceCodec, SealedReferenceCodec
from tests.testapp.views import DocumentViewSet, NoteViewSet

STAMPED_TABLE = "stamped_documents"


class StampedDocumentViewSet(DocumentViewSet):
    table_name = STAMPED_TABLE
    client_keys = False
    stamp_writes = True
    transfer_actions = ("transfer",)

    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        item = self.update_item(self.get_object(), {self.get_owner_field(): str(request.data["to"])})
        return Response(self.get_serializer(item).data)

    @action(detail=True, methods=["post"])
    def grab(self, request, pk=None):
        """A bug on purpose: an action that changes the owner without being a declared transfer."""
        item = self.update_item(self.get_object(), {self.get_owner_field(): str(request.data["to"])})
        return Response(self.get_serializer(item).data)


class SealedDocumentViewSet(StampedDocumentViewSet):
    reference_codec = SealedReferenceCodec()
    reference_scope = "test-documents"


class MappedDocumentViewSet(StampedDocumentViewSet):
    reference_codec = MappedReferenceCodec
    reference_scope = "test-documents-mapped"


class SealedNoteViewSet(NoteViewSet):
    reference_codec = SealedReferenceCodec()


class UnversionedSealedNoteViewSet(SealedNoteViewSet):
    version_field = None


class MappedNoteViewSet(NoteViewSet):
    reference_codec = MappedReferenceCodec()
