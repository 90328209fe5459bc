import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
django.setup(set_prefix=False)

from chatproject.daphne_compat import allow_protocol_close_codes, disable_form_parsing  # noqa: E402
from chatproject.middleware import run_middleware_sync  # noqa: E402  (needs settings)

allow_protocol_close_codes()  # 1012 on SIGTERM, also under daphne
disable_form_parsing()  # uploads stay in daphne's temporary file, not in memory
run_middleware_sync()  # one thread hop per request instead of one per middleware hook

from chatproject.asgi_handler import ReusedThreadsASGIHandler  # noqa: E402

django_asgi_app = ReusedThreadsASGIHandler()  # Django's, without a new thread per request

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from django.conf import settings  # noqa: E402

from chatproject.bodylimit import BodyLimit  # noqa: E402
from messaging.files import upload_body_limit  # noqa: E402
from messaging.routing import websocket_urlpatterns  # noqa: E402

if settings.TASK_WORKER_IN_SERVER:
    # Without Redis only this process can reach its sockets, so it runs the queue itself.
    from chatproject.tasks import start_worker_thread

    start_worker_thread()

# Uploads are refused past their limit before Django reads the body (see chatproject/bodylimit.py).
http_app = BodyLimit(django_asgi_app, {"/api/v1/attachments/": upload_body_limit})
# The consumer checks Origin and credentials itself (accounts/ws.py): no middleware
# stack kept alive per socket.
application = ProtocolTypeRouter({"http": http_app, "websocket": URLRouter(websocket_urlpatterns)})

from chatproject.gctune import tune_garbage_collector  # noqa: E402

tune_garbage_collector(settings.GC_GEN0_THRESHOLD)  # last: what start-up built lives as long as the process
