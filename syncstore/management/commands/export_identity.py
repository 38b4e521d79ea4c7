"""Export everything kept about a person (GDPR-style access request) as JSON."""

import json

from django.core.management.base import BaseCommand

from syncstore import operations
from syncstore.management.commands._person import add_person_arguments, person_identities


class Command(BaseCommand):
    help = (
        "Write a person's data as JSON: the identity, its logins, tags and merges, every "
        "dataset with its records, devices; identities merged into it are included. One "
        "identity gives an object, several (one person in several pools) a list."
    )

    def add_arguments(self, parser):
        add_person_arguments(parser)
        parser.add_argument("--output", "-o", metavar="FILE", help="write here, not to stdout")

    def handle(self, *args, **options):
        identities = person_identities(options)
        exports = [operations.identity_export(identity) for identity in identities]
        text = json.dumps(exports[0] if len(exports) == 1 else exports, indent=2) + "\n"
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as file:
                file.write(text)
            self.stderr.write(f"Wrote {len(exports)} identities to {options['output']}.")
        else:
            self.stdout.write(text, ending="")
        for identity in identities:
            if identity.merged_into_id:
                self.stderr.write(
                    f"{identity.id} was merged into {identity.merged_into_id}: export that one "
                    "too for what the person did since."
                )
