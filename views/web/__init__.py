"""The web pages, for voters and the production team: Portuguese wording, formatting, the
forms' errors, the hourly chart, and the Jinja2 set-up of the templates in `views/templates`
(the static files are in `views/static`, served by NGINX in production)."""
