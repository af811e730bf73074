"""``path("auth/", include("drf_toctou.urls"))`` gives the token endpoints
(token/, token/refresh/, token/verify/, token/revoke/), logout/, logout-all/
and the session endpoints (sessions/, sessions/others/, sessions/<id>/)."""

from django.urls import path

from drf_toctou import views

app_name = "drf_toctou"

urlpatterns = [
    path("token/", views.TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("token/refresh/", views.TokenRefreshView.as_view(), name="token_refresh"),
    path("token/verify/", views.TokenVerifyView.as_view(), name="token_verify"),
    path("token/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="logout_all"),
    path("sessions/", views.SessionListView.as_view(), name="sessions"),
    path("sessions/others/", views.OtherSessionsView.as_view(), name="other_sessions"),
    path("sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="session"),
]
