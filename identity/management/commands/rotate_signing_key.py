"""Put a new OpenID token signing key in service."""

from django.core.management.base import BaseCommand

from identity import signing_keys


class Command(BaseCommand):
    help = "Rotate the OpenID token signing key; old keys stay published until tokens expire."

    def handle(self, *args, **options):
        key = signing_keys.signing_key_rotate()
        self.stdout.write(f"Signing key {key.kid} is now in service.")
