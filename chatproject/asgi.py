import os

import django
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django.setup(set_prefix=False)

from chatproject.daphne_compat import allow_protocol_close_codes  # noqa: E402
from chatproject.middleware import run_middleware_sync  # noqa: E402  (needs settings)

allow_protocol_close_codes()  # 1012 on SIGTERM, also under daphne
run_middleware_sync()  # one thread hop per request instead of one per middleware hook
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from messaging.routing import websocket_urlpatterns  # noqa: E402

# The consumer checks Origin and credentials itself (accounts/ws.py): no middleware
# stack kept alive per socket.
application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)})
