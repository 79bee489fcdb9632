"""Mail infrastructure: composing messages, sending them, templates and link tokens."""
