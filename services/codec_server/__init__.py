"""The Temporal codec server: lets an authorised operator read encrypted payloads."""
