"""The HTTP API: thin routes over the plain functions of the backend."""
