"""Login: OpenID Connect with groups from the identity provider's claims (P6)."""
