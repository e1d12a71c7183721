"""The blueprints: one per area, routes and templates only."""
