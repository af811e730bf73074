from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter

from drf_toctou.mixins import ConditionalModelMixin
from drf_toctou.permissions import TokenOwnershipPermission
from tests.projects.username_ids.models import Memo


class MemoSerializer(serializers.ModelSerializer):
    class Meta:
        model = Memo
        fields = ["id", "owner", "title", "version"]
        read_only_fields = ["id", "owner", "version"]


class MemoViewSet(ConditionalModelMixin, viewsets.ModelViewSet):
    queryset = Memo.objects.all()
    serializer_class = MemoSerializer
    permission_classes = [TokenOwnershipPermission]
    owner_field = "owner"
    version_field = "version"


router = SimpleRouter()
router.register("memos", MemoViewSet)
urlpatterns = [path("auth/", include("drf_toctou.urls")), path("", include(router.urls))]
