"""Who may do what: API keys, accounts, authentication and the hashing of their secrets."""
