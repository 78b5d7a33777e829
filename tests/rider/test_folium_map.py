"""The folium map through folium's public API: our names, and only our own copy of Leaflet."""

import re

import pytest

from stations import create_app
from stations.rider import folium_map

TILES = folium_map.PROVIDERS["osm"]


@pytest.fixture
def plain_app():
    """An app with no database: the map touches none."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize("cluster", [True, False])
def test_folium_links_exactly_the_libraries_the_page_lists(plain_app, cluster):
    # Fails when a folium upgrade links a library of its own that the page would not load.
    with plain_app.test_request_context("/"):
        parts = folium_map.build_map(TILES, cluster=cluster)
        figure = folium_map.leaflet_map(TILES, cluster=cluster).map.get_root()
        figure.render()
        header = figure.header.render()
    assert sorted(re.findall(r'<script src="([^"]+)"', header)) == sorted(parts["scripts"])
    assert sorted(re.findall(r'<link rel="stylesheet" href="([^"]+)"', header)) == sorted(
        parts["styles"]
    )
    assert len(parts["scripts"]) == (2 if cluster else 1)
    assert all(url.startswith("/assets/") for url in parts["scripts"] + parts["styles"])
    assert all("/vendor/" in url for url in parts["scripts"] + parts["styles"])


@pytest.mark.parametrize(
    ("cluster", "names"),
    [
        (True, {"map_name": "map_stations", "cluster_name": "marker_cluster_stations"}),
        (False, {"map_name": "map_stations", "cluster_name": None}),
    ],
)
def test_the_map_and_its_cluster_layer_have_the_names_the_page_uses(plain_app, cluster, names):
    with plain_app.test_request_context("/"):
        parts = folium_map.build_map(TILES, cluster=cluster)
    assert {name: parts[name] for name in names} == names
    assert 'id="map_stations"' in parts["html"]
    assert "var map_stations = L.map(" in parts["script"]
    assert ("var marker_cluster_stations = L.markerClusterGroup(" in parts["script"]) == cluster
    assert "marker_cluster_stations.addTo(map_stations)" in parts["script"] or not cluster
