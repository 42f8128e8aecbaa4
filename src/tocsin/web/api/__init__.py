"""The HTTP API: thin routes over the flows and domain services, one module per family."""
