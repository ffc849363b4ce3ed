"""Deploy tooling run from a checkout (make package, make lint); not installed for users."""
