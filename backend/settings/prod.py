from .base import *  # noqa: F403

SECRET_KEY = env_str("SECRET_KEY")  # noqa: F405  (required: no default in production)
DEBUG = env_bool("DEBUG", False)  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
