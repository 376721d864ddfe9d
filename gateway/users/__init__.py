"""Accounts: registration, sign-in (OAuth2 password flow, JWT bearer tokens) and roles."""
