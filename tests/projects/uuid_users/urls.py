from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter

from drf_toctou.mixins import ConditionalModelMixin
from drf_toctou.permissions import TokenOwnershipPermission
from tests.projects.uuid_users.models import Doc


class DocSerializer(serializers.ModelSerializer):
    class Meta:
        model = Doc
        fields = ["id", "owner", "title"]
        read_only_fields = ["id", "owner"]


class DocViewSet(ConditionalModelMixin, viewsets.ModelViewSet):
    queryset = Doc.objects.all()
    serializer_class = DocSerializer
    permission_classes = [TokenOwnershipPermission]
    owner_field = "owner"


router = SimpleRouter()
router.register("docs", DocViewSet)
urlpatterns = [path("auth/", include("drf_toctou.urls")), path("", include(router.urls))]
