from django.conf import settings


def client_ip(request) -> str:
    """The client's address as the nearest of TRUSTED_PROXY_COUNT proxies saw it.

    Each proxy appends the address it received from to X-Forwarded-For, so with N trusted
    proxies the client is the N-th entry from the right; anything further left was written by
    the client and can be forged. Without a proxy, the socket's address.
    """
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if count > 0 and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")
