"""What every page is made with: the Jinja environment and responses, the languages and
their catalogues, number formatting, Korean line breaking, form parsing and its
vocabulary, and the HTML error pages."""
