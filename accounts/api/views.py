from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import devices, selectors, services
from accounts.api import serializers
from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE, error_response
from chatproject.clientaddr import client_address


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=serializers.RegisterSerializer,
        responses={201: serializers.RegisteredSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        data = serializers.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data, address=client_address(request))
        return Response(serializers.RegisteredSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=serializers.LoginSerializer,
        responses={
            200: serializers.TokenPairSerializer,
            401: error_response("`not_authenticated`: no active account with this username and password"),
            429: THROTTLED_RESPONSE,
        },
        parameters=[RETRY_AFTER],
        description="Only failed attempts count towards the lock-out (per username and per client address).",
    )
    def post(self, request):
        data = serializers.LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_login(**data.validated_data, request=request)
        if user is None:
            raise AuthenticationFailed("No active account found with the given credentials.")
        return Response(devices.tokens_for_user(user, user_agent=_user_agent(request)))


class TokenRotateView(APIView):
    """Rotation with blacklist: the refresh token sent here stops working; a signed-out device's is refused."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=serializers.RefreshSerializer,
        responses={
            200: serializers.TokenPairSerializer,
            401: error_response("`not_authenticated`: the refresh token is invalid, expired, used or signed out"),
        },
    )
    def post(self, request):
        data = serializers.RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = devices.tokens_rotate(refresh=data.validated_data["refresh"], user_agent=_user_agent(request))
        return Response(pair)


def current_device_id(request) -> int | None:
    """The device the request comes from: its access token's claim, or its web session's."""
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "get"):
        return token.get(devices.DEVICE_CLAIM)
    session = getattr(request, "session", None)
    return session.get("device_id") if session is not None else None


class LogoutView(APIView):
    permission_classes = [AllowAny]

    def perform_authentication(self, request) -> None:
        # Logging out with a refresh token must work with an expired access token in the
        # header too; only `all: true` needs the caller to be signed in.
        try:
            request.user  # noqa: B018  (runs the authenticators)
        except AuthenticationFailed:
            pass

    @extend_schema(
        request=serializers.LogoutSerializer,
        responses={
            205: None,
            400: error_response(
                "`invalid`: neither a refresh token nor `all: true`, or a refresh token that is not one"
            ),
            401: error_response("`not_authenticated`: `all: true` from a caller who is not signed in"),
        },
        description="`{refresh}` signs out that token's device; `{all: true}` (authenticated) signs out every "
        "device but the caller's. Signed-out devices' sockets close with 4401.",
    )
    def post(self, request):
        data = serializers.LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("all"):
            if not request.user.is_authenticated:
                raise NotAuthenticated()
            devices.devices_sign_out_others(user=request.user, keep_device_id=current_device_id(request))
        else:
            devices.tokens_revoke(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_205_RESET_CONTENT)


class DeviceListView(APIView):
    @extend_schema(responses={200: serializers.DeviceSerializer(many=True)})
    def get(self, request):
        rows = devices.devices_signed_in(user=request.user)
        context = {"current_device_id": current_device_id(request)}
        return Response(serializers.DeviceSerializer(rows, many=True, context=context).data)


class DeviceDetailView(APIView):
    http_method_names = ["delete", "options"]

    @extend_schema(
        responses={204: None},
        description="Signs the device out: its refresh token or web session stops working and its sockets "
        "close with 4401 within seconds.",
    )
    def delete(self, request, device_id: int):
        devices.device_sign_out(user=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    @extend_schema(
        request=serializers.PasswordChangeSerializer,
        responses={204: None},
        description="Changes the caller's password and signs out every other device.",
    )
    def post(self, request):
        data = serializers.PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        keep = current_device_id(request)
        services.user_change_password(user=request.user, keep_device_id=keep, **data.validated_data)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            # The caller's own web session stays signed in under the new password.
            update_session_auth_hash(request._request, request.user)
            devices.web_session_rekeyed(device_id=keep, session_key=request.session.session_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = serializers.MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        services.user_update_profile(
            user=self.request.user,
            display_name=serializer.validated_data.get("display_name", self.request.user.display_name),
        )


class UserDirectoryView(generics.ListAPIView):
    serializer_class = serializers.UserSerializer

    @extend_schema(parameters=[OpenApiParameter("search", str, description="part of a username or display name")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        search = self.request.query_params.get("search", "").strip()
        return selectors.user_directory(search=search, exclude=self.request.user)[:50]
