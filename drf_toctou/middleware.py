"""``TokenStateUnavailableMiddleware`` (optional): a credential change that
could not revoke tokens — the store was down — answers 503 on plain Django
views (a password-change form, say) as it does on DRF views, instead of a 500.
Nothing was saved: the revocation runs before the write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from drf_toctou.exceptions import TokenStateUnavailable


class TokenStateUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, TokenStateUnavailable):
            return JsonResponse(exception.detail, status=exception.status_code)
        return None
