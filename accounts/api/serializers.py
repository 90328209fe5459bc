from rest_framework import serializers

from accounts.models import User


class UserSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="shown_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]


class MeSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(max_length=64, allow_blank=True)
    is_moderator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "is_moderator", "date_joined"]
        read_only_fields = ["id", "username", "email", "date_joined"]


class RegisterSerializer(serializers.Serializer):
    # Only shapes and presence here; the rules live in accounts.services.user_register.
    username = serializers.CharField(max_length=150)
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True)


class RegisteredSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "display_name", "date_joined"]


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()
