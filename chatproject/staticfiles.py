"""Static files storage for production: hashed names, compressed copies, JS imports rewritten."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestStorage(CompressedManifestStaticFilesStorage):
    # The web UI is ES modules importing each other ("./api.js"): rewriting those imports
    # to hashed names keeps a page from mixing one release's modules with another's.
    support_js_module_import_aggregation = True
