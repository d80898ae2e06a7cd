"""Use cases. Each service takes a Session and a Clock; the caller owns the transaction."""
