"""What the outside sees, by audience: the JSON API's schemas (`views.api`) and the web
pages (`views.web`, with `views/templates` and `views/static`)."""
