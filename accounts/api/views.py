from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import selectors, services
from accounts.api import serializers
from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE
from chatproject.clientaddr import client_address


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
        responses={200: serializers.TokenPairSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
        description="Only failed attempts count towards the lock-out (per username and per client address).",
    )
    def post(self, request):
        data = serializers.LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_login(**data.validated_data, request=request)
        if user is None:
            raise AuthenticationFailed("No active account found with the given credentials.")
        return Response(services.tokens_for_user(user))


class TokenRotateView(TokenRefreshView):
    """Rotation with blacklist: the refresh token sent here stops working."""

    @extend_schema(request=serializers.RefreshSerializer, responses={200: serializers.TokenPairSerializer})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=serializers.RefreshSerializer, responses={205: None})
    def post(self, request):
        data = serializers.RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.tokens_revoke(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_205_RESET_CONTENT)


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
