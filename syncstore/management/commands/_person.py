"""Finding a person's identities from the command line (export_identity, erase_identity)."""

from django.core.management.base import CommandError, CommandParser

from aws.errors import ResourceNotFound
from identity.models import Identity
from syncstore import operations


def add_person_arguments(parser: CommandParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--identity", metavar="IDENTITY_ID", help="an identity id")
    who.add_argument(
        "--login",
        metavar="PROVIDER=SUBJECT",
        help="a provider login, such as accounts.google.com=1234567890",
    )
    who.add_argument(
        "--developer-user",
        metavar="ID",
        help="a developer user identifier (GetOpenIdTokenForDeveloperIdentity)",
    )
    who.add_argument("--user", metavar="USERNAME", help="a user of the site's own accounts")
    parser.add_argument("--pool", metavar="POOL_ID", help="only identities of this pool")


def person_identities(options: dict) -> list[Identity]:
    """The identities the options name, or a CommandError that says what was not found."""
    login = None
    if options["login"] is not None:
        provider, equals, subject = options["login"].partition("=")
        if not (provider and equals and subject):
            raise CommandError("--login takes PROVIDER=SUBJECT, such as accounts.google.com=123.")
        login = (provider, subject)
    try:
        return operations.person_identities(
            identity_id=options["identity"],
            login=login,
            developer_user=options["developer_user"],
            username=options["user"],
            pool_id=options["pool"],
        )
    except ResourceNotFound as error:
        raise CommandError(error.message) from None
