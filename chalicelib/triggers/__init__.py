"""The ways in: the HTTP API, the Slack slash command, signed webhooks. Each
authenticates and validates a request, then calls the lifecycle."""
