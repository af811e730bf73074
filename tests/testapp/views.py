"""Views the tests drive: protected ones, and naive twins (plain simplejwt and an
owner check on request.user) that serve as negative controls."""

from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

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


class NoteDetail(generics.RetrieveUpdateDestroyAPIView):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer
    permission_classes = [TokenOwnershipPermission]


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
