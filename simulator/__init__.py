"""dakoku simulator (CPython): the world around the firmware under virtual time.

Not built yet: see docs/ARCHITECTURE.md. Until it is, ``dakoku sim`` runs the end-to-end
demonstration that the code supports.
"""
