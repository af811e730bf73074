from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter
from rest_framework_simplejwt.views import TokenObtainPairView

from tests.testapp import indirect_views, views

router = SimpleRouter()
router.register("v/notes", views.NoteViewSet, basename="vnote")
router.register("u/notes", views.UnversionedNoteViewSet, basename="unote")
router.register("ro/notes", views.ReadOnlyNoteViewSet, basename="ronote")
router.register("writable-owner/notes", views.WritableOwnerNoteViewSet, basename="wonote")
router.register("picked/notes", views.PickedNoteViewSet, basename="pickednote")
router.register("a/notes", views.AuthenticatedNoteViewSet, basename="anote")
router.register("open/notes", views.OpenNoteViewSet, basename="onote")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("k/documents", views.ClientKeyDocumentViewSet, basename="kdocument")
router.register("u/documents", views.UnversionedDocumentViewSet, basename="udocument")
router.register("open/documents", views.OpenDocumentViewSet, basename="odocument")
# writer stamps and indirect references
router.register("s/documents", indirect_views.StampedDocumentViewSet, basename="sdocument")
router.register("r/documents", indirect_views.SealedDocumentViewSet, basename="rdocument")
router.register("m/documents", indirect_views.MappedDocumentViewSet, basename="mdocument")
router.register("r/notes", indirect_views.SealedNoteViewSet, basename="rnote")
router.register("ru/notes", indirect_views.UnversionedSealedNoteViewSet, basename="runote")
router.register("m/notes", indirect_views.MappedNoteViewSet, basename="mnote")

api_root = DefaultRouter()  # its API root, with and without a format suffix
api_root.register("notes", views.NoteViewSet, basename="rootnote")

urlpatterns = [
    path("auth/", include("drf_toctou.urls")),
    path("admin/", admin.site.urls),
    path("me/", views.MeView.as_view()),
    path("change-password/", views.ChangePasswordView.as_view()),
    path("notes/<int:pk>/", views.NoteDetail.as_view()),
    path("admin-or-owner/notes/<int:pk>/", views.AdminOrOwnerNoteDetail.as_view()),
    path("owner-object/notes/<int:pk>/", views.OwnerObjectNoteDetail.as_view()),
    path("naive/notes/<int:pk>/", views.NaiveNoteDetail.as_view()),
    path("naive/documents/<str:pk>/", views.NaiveDocumentDetail.as_view()),
    # deliberate misconfigurations, named by toctou_audit and the start-up checks
    path("plain/token/", TokenObtainPairView.as_view()),
    path("jwt-first/notes/<int:pk>/", views.JwtFirstNoteDetail.as_view()),
    path("anyone-or-owner/notes/<int:pk>/", views.AnyoneOrOwnerNoteDetail.as_view()),
    path("dr/", include(api_root.urls)),
    path("", include(router.urls)),
]
