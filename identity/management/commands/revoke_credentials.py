"""Revoke every credential and token issued so far to identities."""

from django.core.management.base import BaseCommand, CommandError

from aws.errors import ResourceNotFound
from identity import selectors, services


class Command(BaseCommand):
    help = "Refuse from now on every credential and OpenID token issued to these identities."

    def add_arguments(self, parser):
        parser.add_argument("identity_ids", nargs="+", metavar="IDENTITY_ID")

    def handle(self, *args, identity_ids, **options):
        for identity_id in identity_ids:
            try:
                identity = selectors.identity_get(identity_id)
            except ResourceNotFound as error:
                raise CommandError(error.message) from None
            services.identity_revoke_credentials(identity=identity)
            self.stdout.write(f"Revoked the credentials of {identity_id}.")
