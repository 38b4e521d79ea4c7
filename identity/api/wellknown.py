"""The OpenID discovery document and JWKS of this server's issuer."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import JsonResponse

from identity import signing_keys, tokens


def openid_configuration(request):
    issuer = settings.COGNATE_ISSUER_URL
    return JsonResponse(
        {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks_uri",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [signing_keys.ALGORITHM],
            "claims_supported": ["iss", "aud", "sub", "amr", "exp", "iat"],
        },
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=300"},
    )


async def jwks(request):
    document = await sync_to_async(tokens.jwks_document)()
    return JsonResponse(
        document, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=300"}
    )
