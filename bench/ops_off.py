"""The app less its operations hooks (timing, metrics, request ids, JSON request logs) and its
security headers (Flask-Talisman): the baseline `bench/run.py --ops` measures them against.
For benchmarks only; never serve it. gunicorn ... --pythonpath bench ops_off:app
"""

from stations import create_app

OFF = ("stations.ops", "flask_talisman")

app = create_app()
for hooks in (app.before_request_funcs, app.after_request_funcs):
    hooks[None] = [f for f in hooks[None] if not f.__module__.startswith(OFF)]
