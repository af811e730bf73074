"""Demo only (S8): play an insider who writes a document around the API —
with the table's credentials and a copy of the stamping code, but without the
fence — using a token that may already be revoked. The Streams watcher is
what notices."""

import json
import time

import boto3
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rest_framework_simplejwt.tokens import UntypedToken

from drf_toctou.stamps import STAMP_ATTRIBUTE, make_stamp
from drf_toctou.state import token_identity


class Command(BaseCommand):
    help = "Demo only: write a document directly with boto3, stamped with a token's identity (S8)."

    def add_arguments(self, parser):
        parser.add_argument("--token", required=True, help="an access token (its revocation is NOT checked)")
        parser.add_argument("--key", required=True, help="the document's raw key")
        parser.add_argument("--title", default="written around the API")
        parser.add_argument("--not-before", type=float, default=0.0, help="wait until this epoch time to write")

    def handle(self, *args, **options):
        if not getattr(settings, "SAMPLE_API_VULNERABLE_ENDPOINTS", False):
            raise CommandError("demo_bypass exists only in the drf-toctou sample project.")
        identity = token_identity(UntypedToken(options["token"]))  # signature and expiry only: this is the bypass
        table = boto3.resource("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL,
                               region_name=settings.DYNAMODB_REGION).Table(settings.SAMPLE_API_DOCUMENTS_TABLE)
        key = options["key"]
        item = table.get_item(Key={"id": key}, ConsistentRead=True)["Item"]
        time.sleep(max(0.0, options["not_before"] - time.time()))
        written_at = time.time()
        table.update_item(Key={"id": key}, UpdateExpression="SET title = :t, version = :v, #w = :w",
                          ExpressionAttributeNames={"#w": STAMP_ATTRIBUTE},
                          ExpressionAttributeValues={":t": options["title"], ":v": item.get("version", 0) + 1,
                                                     ":w": make_stamp(identity, key, "partial_update", written_at)})
        self.stdout.write(json.dumps({"key": key, "written_at": written_at, "user_id": identity.user_id}))
