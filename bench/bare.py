"""A bare Flask app for the benchmarks' ceiling: one view returning a list of 10 JSON items.

No database, no hooks, no extensions: what gunicorn, Werkzeug and Flask cost per request under
the same settings as the app (deploy/gunicorn.conf.py). The items have the shape of /nearest's,
fixed, so that the JSON encoding is of the same size. Served by bench/country.py:

    gunicorn -c deploy/gunicorn.conf.py -w 2 --chdir bench bare:app
"""

from flask import Flask

app = Flask(__name__)

ITEMS = [
    {
        "id": number,
        "external_id": f"bare-{number:04d}",
        "name": f"示例·驿站 {number}号",
        "kind": "warm_station",
        "lat": 22.54 + number / 1000,
        "lng": 114.06 + number / 1000,
        "distance_m": 100.0 * number,
        "open_now": True,
        "opening_hours": "Mo-Su 08:00-20:00",
        "amenities": {"drinking_water": True, "toilet": None, "wifi": False},
    }
    for number in range(1, 11)
]


@app.get("/bare")
def bare():
    return {"data": ITEMS}
