"""Views the tests drive: protected ones, and naive twins (plain simplejwt and an
owner check on request.user) that serve as negative controls."""

from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.permissions import TokenOwnershipPermission
from tests.testapp.models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "owner", "title", "body", "version"]
        read_only_fields = ["id", "owner", "version"]


class MeView(APIView):
    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class ChangePasswordView(APIView):
    """A project's own password change: the save revokes the old tokens, or
    fails (503) without saving when the store can't."""

    def post(self, request):
        request.user.set_password(request.data["password"])
        request.user.save()
        return Response(status=204)


class NoteDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]


class OwnerObjectNoteDetail(NoteDetail):
    """owner_field names the ForeignKey itself: compared through its column."""

    owner_field = "owner"


class AdminOrOwnerNoteDetail(NoteDetail):
    permission_classes = [IsAdminUser | TokenOwnershipPermission]


class NaiveOwnerPermission(BasePermission):
    """The usual check: compares with request.user, set once at authentication."""

    def has_object_permission(self, request, view, obj):
        return obj.owner_id == request.user.pk


class NaiveNoteDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    authentication_classes = [JWTAuthentication]
    permission_classes = [NaiveOwnerPermission]


# --- conditional mixins (L3) -------------------------------------------------

import boto3  # noqa: E402
from rest_framework import mixins, viewsets  # noqa: E402

from drf_toctou.mixins import ConditionalDynamoMixin, ConditionalModelMixin  # noqa: E402


class NoteViewSet(ConditionalModelMixin, viewsets.ModelViewSet):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]
    version_field = "version"


class WritableOwnerSerializer(NoteSerializer):
    class Meta(NoteSerializer.Meta):
        read_only_fields = ["id", "version"]  # "owner" left writable by mistake


class WritableOwnerNoteViewSet(NoteViewSet):
    serializer_class = WritableOwnerSerializer


class ReadOnlyNoteViewSet(ConditionalModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]


class PickedNoteViewSet(ConditionalModelMixin, mixins.ListModelMixin, mixins.UpdateModelMixin,
                        viewsets.GenericViewSet):
    """DRF's mixins listed in another order than ModelViewSet's."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    version_field = "version"


class UnversionedNoteViewSet(NoteViewSet):
    version_field = None


class OpenNoteViewSet(NoteViewSet):
    """A misconfiguration the mixin must answer with a coded refusal, not a 500:
    anyone may call, any authentication class may have let the caller in."""

    authentication_classes = [BearerRevalidatingAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]


class AuthenticatedNoteViewSet(NoteViewSet):
    """No TokenOwnershipPermission: the mixin decides its recheck itself."""

    permission_classes = [IsAuthenticated]


class DocumentSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=200)
    owner_id = serializers.CharField(read_only=True)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True)
    score = serializers.DecimalField(max_digits=20, decimal_places=4, required=False)
    ratio = serializers.FloatField(required=False)
    count = serializers.IntegerField(required=False)
    version = serializers.IntegerField(read_only=True)


class DocumentViewSet(ConditionalDynamoMixin, viewsets.GenericViewSet):
    table_name = "documents"
    serializer_class = DocumentSerializer
    permission_classes = [TokenOwnershipPermission]
    version_field = "version"
    owner_index = "by_owner"


class ClientKeyDocumentViewSet(DocumentViewSet):
    """Keys chosen by the client (opt-in): an existing key's 409 tells it exists."""

    client_keys = True


class OpenDocumentViewSet(DocumentViewSet):
    authentication_classes = [BearerRevalidatingAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]


class UnversionedDocumentViewSet(DocumentViewSet):
    version_field = None
    owner_index = None


class NaiveDocumentDetail(APIView):
    """The usual way: simplejwt, an owner check on request.user, a plain write."""

    authentication_classes = [JWTAuthentication]

    def get_permissions(self):
        return [NaiveDictOwnerPermission()]

    def patch(self, request, pk):
        table = boto3.resource("dynamodb").Table("documents")
        item = table.get_item(Key={"id": pk}).get("Item")
        if item is None:
            return Response({"detail": "Not found.", "code": "not_found"}, status=404)
        self.check_object_permissions(request, item)
        table.update_item(Key={"id": pk}, UpdateExpression="SET title = :t",
                          ExpressionAttributeValues={":t": request.data["title"]})
        return Response({"id": pk, "title": request.data["title"]})




class NaiveDictOwnerPermission(BasePermission):
    def has_object_permission(self, request, view, obj):
        return obj.get("owner_id") == str(request.user.pk)


# --- misconfigurations the endpoint audit and the start-up checks must name ----


class JwtFirstNoteDetail(NoteDetail):
    """simplejwt's class before ours: it accepts the token first, unchecked
    (TokenOwnershipPermission would refuse it: 403 token_auth_required)."""

    authentication_classes = [JWTAuthentication, BearerRevalidatingAuthentication]
    permission_classes = [IsAuthenticated]


class AnyoneOrOwnerNoteDetail(NoteDetail):
    """IsAuthenticated | TokenOwnershipPermission: the recheck never runs."""

    permission_classes = [IsAuthenticated | TokenOwnershipPermission]
