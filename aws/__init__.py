"""The AWS wire protocols and nothing else: the ASGI gateway under /aws, AWS JSON 1.1,
query and REST-JSON dispatch with one operation registry, shape validation from botocore's
models, errors and their rendering, SigV4 verification, pagination tokens, CORS.

The apps register their operations here (`aws.registry`); nothing in this package imports
an app (docs/architecture.md)."""
