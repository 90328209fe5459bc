from django.urls import path

from accounts import views
from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_page, name="settings"),
    path("password/", views.password_change, name="password_change"),
    path("devices/<id:device_id>/sign-out/", views.device_sign_out, name="device_sign_out"),
    path("devices/sign-out-others/", views.devices_sign_out_others, name="devices_sign_out_others"),
]
