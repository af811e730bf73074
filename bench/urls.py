from django.urls import path

from bench import views

detail = views.ToctouNoteViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
urlpatterns = [path(f"{name}/me/", views.me_view(name)) for name in views.AUTH]
urlpatterns += [path(f"{name}/notes/<int:pk>/", views.naive_detail(name)) for name in ("jwt", "knox", "blacklist")]
urlpatterns += [path("toctou/notes/<int:pk>/", detail)]
