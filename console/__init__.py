"""The operators' console: instructors, examiners and the contact centre over gRPC.

    python -m console queue --department 69
    python -m console claim 2611ABCDEF12 --department 69 --instructor me@ddt-69
    python -m console show 2611ABCDEF12 --open identity_proof --to cni.pdf

Every action is a call to a service's gRPC API (instruction, production): the console
holds no state and no rule of its own. Exit codes: 0 done, 1 refused by the service
(French message and stable code printed in red), 2 a service could not be reached.
"""
