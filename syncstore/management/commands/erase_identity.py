"""Erase a person (GDPR-style erasure): their identities, with every login, dataset, record
and device, and the identities merged into them; their credentials stop working."""

import sys

from django.core.management.base import BaseCommand, CommandError

from identity import services
from syncstore import operations
from syncstore.management.commands._person import add_person_arguments, person_identities


class Command(BaseCommand):
    help = (
        "Delete a person's identities and all their data (datasets, records, logins, "
        "devices), including identities merged into them, and revoke their credentials. "
        "Asks for confirmation unless --yes."
    )

    def add_arguments(self, parser):
        add_person_arguments(parser)
        parser.add_argument(
            "--yes",
            "--noinput",
            "--no-input",
            action="store_true",
            dest="yes",
            help="do not ask for confirmation",
        )

    def handle(self, *args, **options):
        named = person_identities(options)
        for identity in named:
            if identity.merged_into_id:
                raise CommandError(
                    f"{identity.id} was merged into {identity.merged_into_id}, where its data "
                    f"and logins are now: erase that one (--identity "
                    f"{identity.merged_into_id}) to erase the person. Nothing was deleted."
                )
        identities = named + operations.merged_into(named)
        summary = operations.erasure_summary(identities)
        listing = "\n".join(f"  {identity.id} ({identity.state})" for identity in identities)
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError(
                    "Erasing deletes data for good; confirm with --yes (not interactive)."
                )
            self.stdout.write(f"This deletes for good:\n{listing}\n{self.describe(summary)}")
            if input("Type 'yes' to erase: ").strip().lower() != "yes":
                raise CommandError("Erasure cancelled; nothing was deleted.")
        services.identities_delete(identities=identities)
        self.stdout.write(f"Erased:\n{listing}\n{self.describe(summary)}")
        self.stdout.write("Their credentials and tokens are revoked.")

    @staticmethod
    def describe(summary: dict[str, int]) -> str:
        return ", ".join(f"{count} {what}" for what, count in summary.items())
