"""The site's own accounts as a developer provider: whenever someone signs in on the site
(password, any Django authentication backend, or social sign-in through django-allauth), the
browser's guest identity is linked to the user's identity or merged into it, in the same
request.

It hangs on Django's `user_logged_in` signal, which `django.contrib.auth.login` sends whatever
backend authenticated the user and whichever view signed them in.

Social sign-in's own fetches (the provider's discovery document, token endpoint, user info
and keys) go through `identity.outbound`, as every fetch of a configured URL does."""

import logging

import requests
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from aws.errors import AwsError
from identity import outbound, services
from identity.providers.base import MAX_ANSWER_BYTES, MAX_REDIRECTS

logger = logging.getLogger(__name__)


def guest_cookie(request) -> str | None:
    """The guest identity id the bootstrap left in this browser, if the cookie is genuine."""
    return request.get_signed_cookie(
        settings.COGNATE_GUEST_COOKIE, default=None, salt="cognate.guest"
    )


@receiver(user_logged_in, dispatch_uid="cognate.site-sign-in")
def bring_the_guest_along(sender, request, user, **kwargs) -> None:
    if request is None:
        return
    try:
        services.site_user_identity(user=user, guest_id=guest_cookie(request))
    except AwsError:
        # The sign-in stands; the guest stays a guest with its data, and the next sign-in
        # (or the bootstrap) tries again.
        logger.exception("could not bring the guest of user %s along", user.pk)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """django-allauth's adapter, with its HTTP session checked by `identity.outbound`:
    internal addresses refused (unless COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES), every
    answer bounded in size and time."""

    def get_requests_session(self) -> requests.Session:
        return outbound.GuardedSession(
            timeout=settings.COGNATE_PROVIDER_TIMEOUT,
            max_bytes=MAX_ANSWER_BYTES,
            redirects=MAX_REDIRECTS,
        )


class ProviderFailure(MiddlewareMixin):
    """A sign-in provider that cannot be asked (unreachable, refused, too slow or too large)
    while the site's sign-in pages talk to it: allauth handles that on its callback, but not
    when it reads the provider's discovery document before redirecting there. Either way the
    person gets allauth's sign-in failure page (502), never a server error; the log says
    why."""

    def process_exception(self, request, exception):
        if not isinstance(exception, requests.RequestException):
            return None
        if not request.path.startswith("/accounts/"):
            return None
        logger.warning("sign-in provider failed at %s: %s", request.path, exception)
        return render(request, "socialaccount/authentication_error.html", status=502)
