from django.urls import path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("settings/", views.settings_page, name="settings"),
    path("password/", views.password_change, name="password_change"),
    path("devices/<int:device_id>/sign-out/", views.device_sign_out, name="device_sign_out"),
    path("devices/sign-out-others/", views.devices_sign_out_others, name="devices_sign_out_others"),
]
