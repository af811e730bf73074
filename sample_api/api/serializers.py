from django.contrib.auth import get_user_model
from rest_framework import serializers

from sample_api.api.models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "owner", "title", "body", "version", "updated_at"]
        read_only_fields = ["id", "owner", "version", "updated_at"]


class DocumentSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=200, help_text="Key; generated when omitted.")
    owner_id = serializers.CharField(read_only=True)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    score = serializers.DecimalField(max_digits=20, decimal_places=4, required=False)
    version = serializers.IntegerField(read_only=True)


class TransferSerializer(serializers.Serializer):
    to = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all())


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
