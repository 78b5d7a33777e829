"""For people who log in: the login, the managers' pages and the admin pages."""
