"""The dashboards: the admin web app and its JSON API over the warehouse."""
