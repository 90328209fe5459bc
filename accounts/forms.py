from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts import services
from chatproject.clientaddr import client_address
from chatproject.errors import FieldErrors, Throttled


class SignupForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    display_name = forms.CharField(max_length=64, required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, request=None, **kwargs) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def save(self):
        """Registers through the same service as the API; field errors land on the form."""
        try:
            return services.user_register(**self.cleaned_data, address=client_address(self.request))
        except FieldErrors as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        except Throttled as exc:
            self.add_error(None, forms.ValidationError(exc.detail, code="throttled"))
        return None


class LockoutLoginMixin:
    """Logs in through accounts.services.user_login: the token endpoint's lock-out rule, on a form."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.user_login(username=username, password=password, request=self.request)
            except Throttled as exc:
                minutes = max(1, round((exc.wait or 60) / 60))
                raise forms.ValidationError(
                    f"{exc.detail} Wait up to {minutes} minute(s) before trying again.", code="throttled"
                ) from exc
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(LockoutLoginMixin, AuthenticationForm):
    """The web UI's login form."""


class AdminLoginForm(LockoutLoginMixin, AdminAuthenticationForm):
    """The admin's login form (staff only), under the same lock-out."""


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label="Current password", widget=forms.PasswordInput, strip=False)
    new_password = forms.CharField(label="New password", widget=forms.PasswordInput, strip=False)

    def save(self, *, user, keep_device_id: int | None) -> bool:
        """Changes the password through the same service as the API; field errors land on the form."""
        try:
            services.user_change_password(user=user, keep_device_id=keep_device_id, **self.cleaned_data)
        except FieldErrors as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return False
        return True
