"""Demo-only, read-only inspection of what is stored (the demo's way to show
"what was written"). Mounted only under ``sample_api.demo_settings``.

Documents are named by their raw key, or by a reference with ``?as=<user
id>`` (whose reference it is): the answer then names the raw key, which the
naive twins take."""

import boto3
from django.conf import settings
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from sample_api.api.models import Note


class InspectView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request, resource, pk):
        if resource == "notes":
            note = Note.objects.filter(pk=pk).values("owner_id", "title", "version").first()
            return Response({"exists": note is not None, **(note or {})})
        if request.query_params.get("as"):
            from sample_api.api.views import DocumentViewSet

            view = DocumentViewSet()
            pk = view.get_reference_codec().decode(request.query_params["as"], pk, view.get_reference_scope()) or pk
        table = boto3.resource("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL,
                               region_name=settings.DYNAMODB_REGION).Table(settings.SAMPLE_API_DOCUMENTS_TABLE)
        item = table.get_item(Key={"id": pk}, ConsistentRead=True).get("Item")
        if item is None:
            return Response({"exists": False})
        return Response({"exists": True, "key": pk, "owner_id": item.get("owner_id"), "title": item.get("title"),
                         "version": item.get("version")})
