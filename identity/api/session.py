"""The browser bootstrap (`POST /identity/session`, same origin, CSRF-protected): the
browser's identity and a fresh OpenID token. A first visit gets a guest, remembered in a
signed, HttpOnly, SameSite=Lax cookie that brings the same guest back even if the page's
storage is wiped; a signed-in user gets the user's identity."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from aws.errors import AwsError, TooManyRequests
from identity import clock, ratelimit, services
from identity.accounts import guest_cookie


@require_POST
def session(request):
    user = request.user if request.user.is_authenticated else None
    try:
        if user is not None:
            identity = services.site_user_identity(user=user)
        else:
            address = ratelimit.client_address(
                request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR")
            )
            identity = services.site_guest(guest_id=guest_cookie(request), address=address)
    except TooManyRequests as error:
        response = JsonResponse({"__type": error.code, "message": error.message}, status=429)
        response["Retry-After"] = str(error.retry_after or 60)
        return response
    except AwsError as error:  # the site's pool is missing or misconfigured
        return JsonResponse(
            {
                "__type": "InvalidIdentityPoolConfigurationException",
                "message": f"The site's identity pool is not usable: {error.message} Run "
                "`manage.py ensure_demo_pool` or set COGNATE_SITE_POOL_ID.",
            },
            status=503,
        )
    token, lifetime = services.site_token(identity=identity, user=user)
    response = JsonResponse(
        {
            "identityId": identity.id,
            "identityPoolId": identity.pool_id,
            "token": token,
            "expiresAt": int(clock.now()) + lifetime,
            "authenticated": user is not None,
            "username": user.get_username() if user is not None else None,
        },
        headers={"Cache-Control": "no-store"},
    )
    if user is None:
        response.set_signed_cookie(
            settings.COGNATE_GUEST_COOKIE,
            identity.id,
            salt="cognate.guest",
            max_age=settings.COGNATE_GUEST_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response
