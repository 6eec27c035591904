"""Talking to /api/v1/ from a test: a key for a business, and JSON requests sent with it."""

import json

from api.keys import api_key_create


class ApiClient:
    def __init__(self, client, key: str | None):
        self.client, self.key = client, key

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, params=None, headers=None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self.headers(headers))

    def post(self, path: str, body=None, headers=None, raw: bytes | str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            f"/api/v1{path}",
            data=data,
            content_type="application/json",
            headers=self.headers(headers),
        )


def api_for(client, business, name="CRM") -> ApiClient:
    """An ApiClient holding a new key of `business`."""
    _, key = api_key_create(business=business, name=name)
    return ApiClient(client, key)
