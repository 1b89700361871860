"""Production settings: safe whatever the environment says.

DEBUG is off and cannot be turned on from the environment; SECRET_KEY must come
from the environment and be strong; HTTPS is enforced (redirect, HSTS, secure
cookies). Behind a proxy that terminates TLS, set ``TRUSTED_PROXY_SSL_HEADER=true``
*only if* that proxy always overwrites ``X-Forwarded-Proto`` (docs/security.md).
``manage.py check --deploy --settings=backend.settings.prod`` is clean.
"""

from .base import *  # noqa: F403
from .env import env_bool, env_int, strong_secret_key

SECRET_KEY = strong_secret_key("SECRET_KEY")
DEBUG = False

SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if env_bool("TRUSTED_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
