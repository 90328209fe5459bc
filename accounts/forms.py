from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts import services
from chatproject.errors import FieldErrors, Throttled


class SignupForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    display_name = forms.CharField(max_length=64, required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def save(self):
        """Registers through the same service as the API; field errors land on the form."""
        try:
            return services.user_register(**self.cleaned_data)
        except FieldErrors as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return None


class LoginForm(AuthenticationForm):
    """Django's login form, with the same brute-force limits as the token endpoint."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
            try:
                self.user_cache = services.user_login(
                    username=username, password=password, address=address or "unknown", request=self.request
                )
            except Throttled as exc:
                raise forms.ValidationError(exc.detail, code="throttled") from exc
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


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
