"""HTTP: the JSON API, problem+json errors, and the app that wires it all (``app.create_app``)."""
