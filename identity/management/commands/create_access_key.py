"""Create an operator access key for a staff user and print it once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from aws.errors import ResourceNotFound
from identity import selectors, services


class Command(BaseCommand):
    help = "Create an access key (id and secret) for a staff user, for SigV4-signed calls."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--pool", action="append", default=[], help="limit the key to this pool (repeat)"
        )

    def handle(self, *args, username, description, pool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}; create it with createsuperuser.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username} must be an active staff user to hold access keys.")
        try:
            pools = [selectors.pool_get(pool_id) for pool_id in pool]
        except ResourceNotFound as error:
            raise CommandError(error.message) from None
        key, secret = services.access_key_create(user=user, description=description, pools=pools)
        self.stdout.write(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
        self.stdout.write(f"AWS_SECRET_ACCESS_KEY={secret}")
        self.stderr.write("Keep the secret now: it is not shown again.")
