"""The site's own accounts as a developer provider: whenever someone signs in on the site
(password, any Django authentication backend, or social sign-in through django-allauth), the
browser's guest identity is linked to the user's identity or merged into it, in the same
request.

It hangs on Django's `user_logged_in` signal, which `django.contrib.auth.login` sends whatever
backend authenticated the user and whichever view signed them in."""

import logging

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from identity import services
from identity.errors import AwsError

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
