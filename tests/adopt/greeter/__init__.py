"""greeter: a plain WSGI app on the standard library."""
