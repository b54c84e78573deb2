"""Everything that talks to the database: the engine, every SQL statement, migrations."""
