"""gunicorn settings, as the app is served: by the Procfile, the README's commands and the tests
(tests/servers.py): `gunicorn -c deploy/gunicorn.conf.py app:app`. A command-line option (`-w`,
`-b`) still wins over a value set here. (The benchmarks set their own: no access log.)"""

import os

# Where to listen. A platform that runs the Procfile (Heroku, Dokku, Scalingo...) hands the port
# in PORT and routes to it from outside the container, so all interfaces; without PORT, loopback
# only, as the README's first command serves: a reverse proxy (or the developer) in front.
bind = [f"0.0.0.0:{os.environ['PORT']}"] if os.environ.get("PORT") else ["127.0.0.1:8000"]

# Workers: WEB_CONCURRENCY when set (the platforms' convention, as gunicorn itself reads it),
# else gunicorn's rule of thumb of 2 per core plus 1, at most 8 (each worker holds its own copy
# of the station cache, ~90 MB per 100,000 stations). Rate limits are counted once per machine
# (RATELIMIT_FILE) or in Redis, so any number of workers keeps every limit.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * (os.cpu_count() or 1) + 1, 8))
# Sync workers: every request is a short database query; slow clients are nginx's to buffer.
worker_class = "sync"

# Request size. gunicorn's own refusals are bare HTML pages, so its limits sit above the app's
# (stations/request_size.py), which answers an over-long URL with 414 and too many or too large
# header fields with 431, as problem+json on /api. 8190 is the most gunicorn allows for a line.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Timeouts. 30 s kills a stuck worker, yet covers the slowest real request (a worker's first
# nearest search reads every station: ~4 s for 100,000; an admin import of a large list).
timeout = 30
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = 30
# Keep-alive between nginx and gunicorn: a little longer than a request, not a held worker.
keepalive = 5

# Access log to stdout (the platform or systemd collects it); errors to stderr.
accesslog = "-"
errorlog = "-"

# X-Forwarded-For/-Proto are the app's to trust (TRUSTED_PROXIES, werkzeug's ProxyFix), counted
# in hops: gunicorn, which would trust them by address, is told to trust nobody, so that the
# two never disagree about who the client is or whether it came over HTTPS.
forwarded_allow_ips = ""
secure_scheme_headers = {}

# No control socket (gunicorn 25+): its default path is one per user, shared by every gunicorn
# on the machine (the tests start several at once); signals manage the server, as systemd and
# the platforms send them.
control_socket_disable = True
