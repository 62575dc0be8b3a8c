"""TLS certificates issued and renewed by the platform (ACME HTTP-01 through platform-nginx's webroot).

client.py speaks ACME; challenge.py puts the answers where platform-nginx serves them; install.py swaps a
new certificate into place; run.py decides which certificates are due and drives the rest; timer.py writes
the systemd units that run the renewal.
"""
