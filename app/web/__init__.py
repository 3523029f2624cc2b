"""The HTML pages: Jinja templates, htmx fragments, view-models, English and Korean."""
