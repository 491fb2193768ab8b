"""Browser sign-in: session cookies, CSRF tokens, development users, OpenID Connect."""
