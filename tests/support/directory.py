"""A company directory as a Django authentication backend, shaped like django-auth-ldap: the
directory checks the password and the backend creates the Django user on first sign-in."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

DIRECTORY = {"grace": "hopper-compiler-1952"}


class DirectoryBackend(BaseBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or DIRECTORY.get(username) != password:
            return None
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
        return user

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id).first()
