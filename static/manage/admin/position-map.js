// The admin's position map: a tap, or a dragged marker, writes lat/lng in the map's own datum
// and selects that datum; the server converts it to WGS-84. Without this the form still works.
(function () {
  "use strict";
  const box = document.getElementById("position-map");
  if (!box) return;
  const mapDatum = box.dataset.datum;
  const fields = ["datum", "lat", "lng"].map(function (id) { return document.getElementById(id); });

  function start(map) {
    const [datum, lat, lng] = fields;
    const icon = L.divIcon({className: "position-pin", iconSize: [44, 44], iconAnchor: [22, 32]});
    let marker = null;

    function place(latlng) {
      if (marker) {
        marker.setLatLng(latlng);
        return;
      }
      marker = L.marker(latlng, {icon: icon, draggable: true, keyboard: false}).addTo(map);
      marker.on("dragend", function () { write(marker.getLatLng()); });
    }

    function write(latlng) {
      lat.value = latlng.lat.toFixed(7);
      lng.value = latlng.lng.toFixed(7);
      datum.value = mapDatum;
    }

    // Typed in the map's datum, the marker follows; in another datum, the server converts it.
    function typed() {
      const at = [parseFloat(lat.value), parseFloat(lng.value)];
      const valid = Math.abs(at[0]) <= 90 && Math.abs(at[1]) <= 180;
      if (datum.value === mapDatum && valid) place(at);
    }

    map.on("click", function (e) { place(e.latlng); write(e.latlng); });
    fields.forEach(function (field) { field.addEventListener("change", typed); });
    if (box.dataset.lat) {
      place([+box.dataset.lat, +box.dataset.lng]);
      map.setView(marker.getLatLng(), 16, {animate: false});
    }
    window.positionMap = {map: map, marker: function () { return marker; }};
  }

  document.addEventListener("positionmap:ready", function (e) { start(e.detail); });
})();
