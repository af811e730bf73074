from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tests.testapp import indirect_views, views

router = SimpleRouter()
router.register("v/notes", views.NoteViewSet, basename="vnote")
router.register("u/notes", views.UnversionedNoteViewSet, basename="unote")
router.register("a/notes", views.AuthenticatedNoteViewSet, basename="anote")
router.register("open/notes", views.OpenNoteViewSet, basename="onote")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("u/documents", views.UnversionedDocumentViewSet, basename="udocument")
router.register("open/documents", views.OpenDocumentViewSet, basename="odocument")
# writer stamps and indirect references
router.register("s/documents", indirect_views.StampedDocumentViewSet, basename="sdocument")
router.register("r/documents", indirect_views.SealedDocumentViewSet, basename="rdocument")
router.register("m/documents", indirect_views.MappedDocumentViewSet, basename="mdocument")
router.register("r/notes", indirect_views.SealedNoteViewSet, basename="rnote")
router.register("ru/notes", indirect_views.UnversionedSealedNoteViewSet, basename="runote")
router.register("m/notes", indirect_views.MappedNoteViewSet, basename="mnote")

urlpatterns = [
    path("auth/", include("drf_toctou.urls")),
    path("me/", views.MeView.as_view()),
    path("notes/<int:pk>/", views.NoteDetail.as_view()),
    path("admin-or-owner/notes/<int:pk>/", views.AdminOrOwnerNoteDetail.as_view()),
    path("naive/notes/<int:pk>/", views.NaiveNoteDetail.as_view()),
    path("naive/documents/<str:pk>/", views.NaiveDocumentDetail.as_view()),
    path("", include(router.urls)),
]
