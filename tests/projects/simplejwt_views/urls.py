from django.urls import path
from rest_framework_simplejwt import views as jwt_views

from drf_toctou import views as toctou_views
from tests.testapp.views import MeView

urlpatterns = [
    path("token/", jwt_views.TokenObtainPairView.as_view()),
    path("token/refresh/", jwt_views.TokenRefreshView.as_view()),
    path("token/verify/", jwt_views.TokenVerifyView.as_view()),
    path("token/blacklist/", jwt_views.TokenBlacklistView.as_view()),
    path("logout-all/", toctou_views.LogoutAllView.as_view()),
    path("me/", MeView.as_view()),
]
