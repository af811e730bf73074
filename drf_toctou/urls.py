"""``path("auth/", include("drf_toctou.urls"))`` gives token/, token/refresh/,
logout/ and logout-all/."""

from django.urls import path

from drf_toctou import views

app_name = "drf_toctou"

urlpatterns = [
    path("token/", views.TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("token/refresh/", views.TokenRefreshView.as_view(), name="token_refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="logout_all"),
]
