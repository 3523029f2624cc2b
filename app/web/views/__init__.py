"""What the pages show, computed from a session's state without HTTP: the session
page's regions (session.py) from the render's one engine pass (passes.py), the data
panel, the toolbar's messages, the Share panel, long runs and the comparisons' setup."""
