from django.urls import include, path

from bench import views

detail = views.ToctouNoteViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
urlpatterns = [path(f"{name}/me/", views.me_view(name)) for name in views.AUTH]
urlpatterns += [path(f"{name}/notes/<int:pk>/", views.naive_detail(name)) for name in ("jwt", "knox", "blacklist")]
urlpatterns += [path("toctou/notes/<int:pk>/", detail)]
urlpatterns += [path("near-stats/", views.near_stats)]  # the worker's near cache counters (bench/near_servers.py)
urlpatterns += [path("auth/", include("drf_toctou.urls")),
                path("simplejwt/token/", views.simplejwt_obtain), path("simplejwt/token/refresh/", views.simplejwt_refresh)]
