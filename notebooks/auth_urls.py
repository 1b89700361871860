from django.urls import path

from . import auth_views

app_name = "api-auth"

urlpatterns = [
    path("session/", auth_views.session, name="session"),
    path("login/", auth_views.login_view, name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
]
