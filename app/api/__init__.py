"""The JSON API (/api/v1); the contract is docs/api.md."""
