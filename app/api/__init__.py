"""The JSON API (/api/v1), per ../shared/API.md."""
