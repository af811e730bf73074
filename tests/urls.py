from django.urls import include, path

from tests.testapp import views

urlpatterns = [
    path("auth/", include("drf_toctou.urls")),
    path("me/", views.MeView.as_view()),
    path("notes/<int:pk>/", views.NoteDetail.as_view()),
    path("admin-or-owner/notes/<int:pk>/", views.AdminOrOwnerNoteDetail.as_view()),
    path("naive/notes/<int:pk>/", views.NaiveNoteDetail.as_view()),
]
