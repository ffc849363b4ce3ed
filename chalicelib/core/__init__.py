"""What every layer above relies on: settings, names, models, errors, AWS clients, the
registry (state transitions), signatures and observability."""
