from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from sample_api.api import naive, views

router = SimpleRouter()
router.register("documents", views.DocumentViewSet, basename="document")
router.register("notes", views.NoteViewSet, basename="note")

urlpatterns = [
    path("api/auth/", include("drf_toctou.urls")),
    path("api/me/", views.MeView.as_view(), name="me"),
    path("api/", include(router.urls)),
    # Deliberately vulnerable twins: the negative control of the demo and tests.
    path("api/naive/documents/<str:pk>/", naive.NaiveDocumentDetail.as_view(), name="naive-document"),
    path("api/naive/notes/<int:pk>/", naive.NaiveNoteDetail.as_view(), name="naive-note"),
    path("api/naive/auth/token/", naive.naive_token_obtain, name="naive-token"),
    path("api/naive/auth/token/refresh/", naive.naive_token_refresh, name="naive-token-refresh"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Swagger UI's assets come from drf-spectacular-sidecar, served locally.
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]

from django.conf import settings  # noqa: E402

from sample_api.api.demo import DEMO_SETTINGS  # noqa: E402

if settings.SETTINGS_MODULE == DEMO_SETTINGS:
    from sample_api.api.inspect import InspectView

    urlpatterns.append(path("demo/inspect/<str:resource>/<str:pk>/", InspectView.as_view()))
