"""Settings for the test suite: the tests point REDIS_URL at their own redis-server."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media-test")))  # noqa: F405

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]  # noqa: F405
