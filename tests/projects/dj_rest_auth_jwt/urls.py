from django.urls import include, path

from drf_toctou.contrib.dj_rest_auth import TokenRefreshView
from tests.testapp.views import MeView

urlpatterns = [
    # before dj_rest_auth.urls: its own refresh view skips the token-state store
    path("auth/token/refresh/", TokenRefreshView.as_view()),
    path("auth/", include("dj_rest_auth.urls")),
    path("toctou/", include("drf_toctou.urls")),
    path("me/", MeView.as_view()),
]
