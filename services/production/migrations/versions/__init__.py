"""The production service's revisions, oldest first (0001, 0002...)."""
