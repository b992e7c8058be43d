"""Zoom cloud recordings: sign-in (oauth), the REST client (api), downloads and the sync (cloud)."""
