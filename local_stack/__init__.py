"""Development tools: an embedded AWS and a lemlist simulator. Never deployed."""
