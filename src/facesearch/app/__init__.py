"""The application layer: every use of the gallery, checked and audited; the CLI and the server
call it."""
