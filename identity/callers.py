"""The caller of an operation: an operator's access key or an identity's session. Both apps
take it from here (it imports no services, so either may); `identity.auth` proves who it is."""

from dataclasses import dataclass

from django.conf import settings

from aws.errors import AuthFailure
from identity.credentials import Session
from identity.models import AccessKey


@dataclass
class Caller:
    """An authenticated caller: exactly one of `key` (operator) and `session` (identity)."""

    key: AccessKey | None = None
    session: Session | None = None

    @property
    def arn(self) -> str:
        if self.key is not None:
            return f"arn:aws:iam::{settings.COGNATE_ACCOUNT_ID}:user/{self.key.user.get_username()}"
        assert self.session is not None
        return self.session.arn

    def operator(self, permission: str, action: str) -> AccessKey:
        """The operator key, if the caller is an operator holding `permission`."""
        if self.key is None:
            raise AuthFailure(
                "forbidden",
                f"User: {self.arn} is not authorized to perform: {action}. This operation "
                "needs an operator access key (python manage.py create_access_key USERNAME).",
            )
        if not self.key.user.has_perm(permission):
            raise AuthFailure(
                "forbidden",
                f"User: {self.arn} is not authorized to perform: {action}. Give the user the "
                f"Django permission '{permission}' (or make it a superuser).",
            )
        return self.key
