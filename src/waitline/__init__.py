"""waitline: a self-hostable virtual queue for restaurants."""
