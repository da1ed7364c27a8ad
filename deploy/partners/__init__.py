"""Stand-ins for the system's outside partners (the card printer, La Poste), for the
local stack, the demo and tests only: they use our public gRPC APIs like the real ones
would, and are never deployed."""
