"""Everything that turns a campaign into mail: templates, scheduling, mailers, tracking."""
