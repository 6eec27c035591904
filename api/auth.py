"""`Authorization: Bearer <key>`: the key names the business every query is scoped to, and
counts against its throttle."""

from ninja.errors import Throttled
from ninja.security import HttpBearer

from api.keys import api_key_find, api_key_throttle


class ApiKeyBearer(HttpBearer):
    def authenticate(self, request, token):
        api_key = api_key_find(key=token)
        if api_key is None:
            return None  # 401
        verdict = api_key_throttle(api_key=api_key)
        if not verdict.allowed:
            raise Throttled(wait=verdict.retry_after)
        return api_key
