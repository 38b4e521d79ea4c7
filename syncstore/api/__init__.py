"""The Cognito Sync REST-JSON API under `/aws/identitypools/...`."""
