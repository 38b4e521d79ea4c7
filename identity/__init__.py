"""Identity pools, identities, logins, roles and policies, OpenID tokens, temporary
credentials, SigV4, and the Cognito Identity / STS APIs."""
