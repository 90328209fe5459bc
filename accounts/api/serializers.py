from rest_framework import serializers

from accounts.models import Device, User
from chatproject.inputs import JsonInput
from chatproject.schema import documented


class UserSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="shown_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]


class MeSerializer(JsonInput, serializers.ModelSerializer):
    display_name = serializers.CharField(max_length=64, allow_blank=True)
    is_moderator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "is_moderator", "date_joined"]
        read_only_fields = ["id", "username", "email", "date_joined"]


class RegisterSerializer(JsonInput, serializers.Serializer):
    # Only shapes and presence here; the rules live in accounts.services.user_register.
    # The schema says what those rules can be said in a schema: Django's username characters, an
    # e-mail address, and a password of at least 8 characters not all digits. (Not all: the password
    # must not be a common one nor look like the username, and the username must be free.)
    username = documented(serializers.CharField(max_length=150), pattern=r"^[\w.@+-]+$")
    email = documented(serializers.CharField(max_length=254), format="email")
    password = documented(serializers.CharField(write_only=True, trim_whitespace=False), minLength=8, pattern=r"\D")
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True)


class RegisteredSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "date_joined"]


class LoginSerializer(JsonInput, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshSerializer(JsonInput, serializers.Serializer):
    refresh = serializers.CharField()


class LogoutSerializer(JsonInput, serializers.Serializer):
    schema_extra = {
        "anyOf": [
            {"required": ["refresh"]},
            {"required": ["all"], "properties": {"all": {"enum": [True]}}},
        ]
    }

    refresh = serializers.CharField(required=False, help_text="sign out the device of this refresh token")
    all = serializers.BooleanField(
        required=False, default=False, help_text="sign out every device but the caller's (needs authentication)"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("all") and not attrs.get("refresh"):
            raise serializers.ValidationError({"refresh": ["Send a refresh token, or all: true."]})
        return attrs


class DeviceSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = ["id", "kind", "created_at", "last_used_at", "user_agent", "current"]

    def get_current(self, device: Device) -> bool:
        return device.pk == self.context.get("current_device_id")


class PasswordChangeSerializer(JsonInput, serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False)
    new_password = serializers.CharField(trim_whitespace=False)
