"""SQLite storage: schema and migrations (`db`), writes with their rollups (`writes`), the API's
read queries (`queries`) and retention (`retention`)."""
