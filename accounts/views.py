from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import devices
from accounts.forms import LoginForm, PasswordChangeForm, SignupForm
from chatproject.errors import NotFound


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def _settings_page(request, password_form: PasswordChangeForm, status: int = 200):
    current = request.session.get("device_id")
    context = {"devices": devices.devices_signed_in(user=request.user), "current_device_id": current}
    context["password_form"] = password_form
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def settings_page(request):
    return _settings_page(request, PasswordChangeForm())


@login_required
@require_POST
def device_sign_out(request, device_id: int):
    current = request.session.get("device_id")
    try:
        devices.device_sign_out(user=request.user, device_id=device_id)
    except NotFound:
        messages.error(request, "That device is already signed out.")
        return redirect("settings")
    if device_id == current:
        return redirect("login")  # this browser's own session just ended
    messages.success(request, "The device is signed out.")
    return redirect("settings")


@login_required
@require_POST
def devices_sign_out_others(request):
    count = devices.devices_sign_out_others(user=request.user, keep_device_id=request.session.get("device_id"))
    messages.success(request, f"Signed out {count} other device(s).")
    return redirect("settings")


@login_required
@require_POST
def password_change(request):
    form = PasswordChangeForm(request.POST)
    current = request.session.get("device_id")
    if form.is_valid() and form.save(user=request.user, keep_device_id=current):
        # This browser stays signed in (Django cycles the session key with the new hash).
        update_session_auth_hash(request, request.user)
        devices.web_session_rekeyed(device_id=current, session_key=request.session.session_key)
        messages.success(request, "Password changed. Your other devices are signed out.")
        return redirect("settings")
    return _settings_page(request, form, status=400)
