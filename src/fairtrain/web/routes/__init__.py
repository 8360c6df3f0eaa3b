"""The web's routes by resource: each module serves one resource's pages (HTML) and its JSON API from the same
service calls, after checking who is asking."""
