"""The rider's page: the map, its Folium map, manifest and service worker."""
