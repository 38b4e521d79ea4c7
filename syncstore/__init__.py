"""Datasets and records, the Cognito Sync API, the websocket consumer and change events."""
