/* The rider's page: position, filters, the nearest list (from the API, in its order), the
   station detail with navigation links and check-ins, and the markers on the Folium-built
   Leaflet map. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("page-config").textContent);
  var T = cfg.text;
  var WALK_M_PER_MIN = 4500 / 60;
  var EBIKE_M_PER_MIN = 15000 / 60;
  var REFRESH_AFTER_M = 25;
  var IN_WECHAT = /MicroMessenger/i.test(navigator.userAgent);
  var $ = function (id) { return document.getElementById(id); };

  /* ---- Datums: the public WGS-84 -> GCJ-02 formula (as stations/datum.py), and its inverse. */
  var KRASOVSKY_A = 6378245.0;
  var KRASOVSKY_EE = 0.00669342162296594323;
  var PI = Math.PI;

  function inChina(lat, lng) {
    return lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  }

  function wgsToGcj(lat, lng) {
    if (!inChina(lat, lng)) return [lat, lng];
    var x = lng - 105, y = lat - 35, sin = Math.sin;
    var waves = (20 * sin(6 * x * PI) + 20 * sin(2 * x * PI)) * 2 / 3;
    var dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      waves + (20 * sin(y * PI) + 40 * sin(y / 3 * PI)) * 2 / 3 +
      (160 * sin(y / 12 * PI) + 320 * sin(y * PI / 30)) * 2 / 3;
    var dLng = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      waves + (20 * sin(x * PI) + 40 * sin(x / 3 * PI)) * 2 / 3 +
      (150 * sin(x / 12 * PI) + 300 * sin(x / 30 * PI)) * 2 / 3;
    var rad = lat / 180 * PI;
    var magic = 1 - KRASOVSKY_EE * sin(rad) * sin(rad);
    var root = Math.sqrt(magic);
    dLat = dLat * 180 / (KRASOVSKY_A * (1 - KRASOVSKY_EE) / (magic * root) * PI);
    dLng = dLng * 180 / (KRASOVSKY_A / root * Math.cos(rad) * PI);
    return [lat + dLat, lng + dLng];
  }

  function gcjToWgs(lat, lng) {
    var guess = [lat, lng];
    for (var i = 0; i < 10; i++) {
      var there = wgsToGcj(guess[0], guess[1]);
      guess = [guess[0] + lat - there[0], guess[1] + lng - there[1]];
    }
    return guess;
  }

  /* Where a WGS-84 point is drawn on the basemap, and back. */
  function toMap(lat, lng) { return cfg.datum === "gcj02" ? wgsToGcj(lat, lng) : [lat, lng]; }
  function fromMap(lat, lng) { return cfg.datum === "gcj02" ? gcjToWgs(lat, lng) : [lat, lng]; }

  /* ---- Words. */
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function distanceText(m) {
    return m < 1000 ? Math.round(m / 10) * 10 + " m" : (m / 1000).toFixed(1) + " km";
  }

  function durationText(minutes) {
    var n = Math.max(1, Math.ceil(minutes));
    if (n < 60) return fill(T.minutes, {n: n});
    return fill(T.hours_minutes, {h: Math.floor(n / 60), m: n % 60});
  }

  function shenzhenDate(ms) { return new Date(ms + 8 * 3600e3).toISOString().slice(0, 10); }

  function shenzhenTime(ms) {
    var local = new Date(ms + 8 * 3600e3).toISOString();
    return shenzhenDate(ms) === shenzhenDate(Date.now()) ? local.slice(11, 16) : local.slice(5, 16).replace("T", " ");
  }

  function whenText(iso) {
    var time = iso.slice(11, 16), day = iso.slice(0, 10), now = Date.now();
    if (day === shenzhenDate(now)) return time;
    if (day === shenzhenDate(now + 86400e3)) return fill(T.tomorrow, {time: time});
    var weekday = ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"][new Date(day + "T00:00Z").getUTCDay()];
    return T.hours_words[weekday] + " " + time;
  }

  function hoursState(s) {
    if (s.status === "temporarily_closed") return ["closed", T.temporarily_closed];
    if (s.status === "closed") return ["closed", T.closed];
    if (s.open_now === null) return ["unknown", T.hours_unknown];
    if (s.open_now) {
      if (s.opening_hours === "24/7") return ["open", T.open_24_7];
      return ["open", s.next_change_at ? fill(T.open_until, {time: whenText(s.next_change_at)}) : T.open];
    }
    return ["shut", s.next_change_at ? fill(T.closed_until, {time: whenText(s.next_change_at)}) : T.closed_now];
  }

  function verifiedText(iso) {
    if (!iso) return T.never_verified;
    var days = Math.floor((Date.now() - Date.parse(iso)) / 86400e3);
    if (days < 1) return T.verified_today;
    if (days < 60) return fill(T.verified_days, {n: days});
    return fill(T.verified_months, {n: Math.floor(days / 30)});
  }

  function hoursInWords(text) {
    if (!text) return T.hours_unknown;
    return text
      .replace(/(\d\d:\d\d)-(\d\d:\d\d)/g, "$1–$2")
      .replace(/24\/7|Mo-Su|Mo-Fr|Mo-Sa|Sa,Su|Mo|Tu|We|Th|Fr|Sa|Su|PH|off/g, function (word) {
        return T.hours_words[word];
      });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fillAmenities(list, amenities, names) {
    list.textContent = "";
    names.forEach(function (name) {
      var value = amenities[name];
      var state = value === true ? "yes" : value === false ? "no" : "unknown";
      var item = el("li", "am am-" + state);
      item.appendChild(el("span", "am-mark", value === true ? "✓" : value === false ? "✗" : "?"));
      item.appendChild(document.createTextNode(T.amenities[name]));
      item.setAttribute("aria-label", T.amenities[name] + ": " + T[state]);
      list.appendChild(item);
    });
    return list;
  }

  /* ---- Navigation links (GCJ-02 for Amap, Baidu with its coord_type, and Apple Maps, whose
     map of mainland China is drawn in GCJ-02 too). */
  function navLinks(s) {
    var g = wgsToGcj(s.lat, s.lng), lat = g[0].toFixed(6), lng = g[1].toFixed(6);
    var name = encodeURIComponent(s.name);
    var amap = "https://uri.amap.com/navigation?to=" + lng + "," + lat + "," + name + "&mode=ride";
    var baidu = "https://api.map.baidu.com/direction?destination=latlng:" + lat + "," + lng +
      "|name:" + name + "&mode=riding&region=" + encodeURIComponent("深圳") +
      "&coord_type=gcj02&output=html&src=webapp.shenzhen-stations";
    if (state.position) {
      var me = wgsToGcj(state.position.lat, state.position.lng);
      baidu += "&origin=latlng:" + me[0].toFixed(6) + "," + me[1].toFixed(6) + "|name:" +
        encodeURIComponent(T.my_position);
    }
    return {
      "amap": amap + "&callnative=1",
      "amap-ebike": "amapuri://openFeature?featureName=OnRideNavi&rideType=elebike" +
        "&sourceApplication=shenzhen-stations&lat=" + lat + "&lon=" + lng + "&dev=0",
      "baidu": baidu,
      "apple": "https://maps.apple.com/?daddr=" + lat + "," + lng + "&dirflg=w",
      "amap-web": amap + "&callnative=0"
    };
  }

  /* ---- Filters: the same names in the page URL and the API query. */
  var FLAGS = ["open_now", "open_24_7"];

  function filtersFrom(search) {
    var params = new URLSearchParams(search);
    var list = function (name) { return (params.get(name) || "").split(",").filter(Boolean); };
    return {
      amenities: list("amenities").filter(function (a) { return a in T.amenities; }),
      kind: list("kind").filter(function (k) { return k in T.kinds; }),
      open_now: params.get("open_now") !== "false",
      open_24_7: params.get("open_24_7") === "true"
    };
  }

  function pageQuery(f) {
    var params = new URLSearchParams();
    if (f.amenities.length) params.set("amenities", f.amenities.join(","));
    if (f.kind.length) params.set("kind", f.kind.join(","));
    if (!f.open_now) params.set("open_now", "false");
    if (f.open_24_7) params.set("open_24_7", "true");
    return params.toString();
  }

  function apiQuery(f, position) {
    var params = new URLSearchParams(pageQuery(f));
    params.set("open_now", f.open_now ? "true" : "false");
    params.set("lat", position.lat.toFixed(6));
    params.set("lng", position.lng.toFixed(6));
    params.set("limit", cfg.limit);
    return params.toString();
  }

  function showFilters() {
    document.querySelectorAll(".chip").forEach(function (chip) {
      var name = chip.dataset.filter, value = chip.dataset.value;
      var on = FLAGS.indexOf(name) >= 0 ? state.filters[name] : state.filters[name].indexOf(value) >= 0;
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var query = pageQuery(state.filters);
    $("lang-switch").href = "?" + (query ? query + "&" : "") + "lang=" + $("lang-switch").hreflang;
  }

  function toggleFilter(chip) {
    var name = chip.dataset.filter, value = chip.dataset.value, f = state.filters;
    if (FLAGS.indexOf(name) >= 0) {
      f[name] = !f[name];
    } else {
      var at = f[name].indexOf(value);
      if (at >= 0) f[name].splice(at, 1); else f[name].push(value);
    }
    var query = pageQuery(f);
    history.pushState(null, "", query ? "?" + query : location.pathname);
    showFilters();
    loadList();
  }

  /* ---- State: the rider's WGS-84 position, where it came from, the filters, the list. */
  var state = {position: null, source: null, listedAt: null, filters: filtersFrom(location.search),
    stations: [], request: 0, said: {}};
  var watchId = null, recenter = false;

  /* A new position; the map centres on it after "locate me" or a district, not on every move. */
  function setPosition(lat, lng, source) {
    var moved = !state.listedAt || metresBetween(state.listedAt, {lat: lat, lng: lng}) > REFRESH_AFTER_M;
    state.position = {lat: lat, lng: lng};
    state.source = source;
    document.body.dataset.lat = lat;
    document.body.dataset.lng = lng;
    $("position-text").textContent = source === "gps" ? T.located : T.picked;
    $("pick").hidden = source === "gps";
    var centre = recenter;
    recenter = false;
    whenMap(function (m) { m.showPosition(lat, lng, centre); });
    if (moved) loadList();
  }

  function metresBetween(a, b) {
    var dLat = (b.lat - a.lat) * 111320;
    var dLng = (b.lng - a.lng) * 111320 * Math.cos(a.lat * PI / 180);
    return Math.sqrt(dLat * dLat + dLng * dLng);
  }

  function locate() {
    if (!navigator.geolocation) return positionFailed(null);
    $("position-text").textContent = T.locating;
    recenter = true;
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = navigator.geolocation.watchPosition(function (p) {
      setPosition(p.coords.latitude, p.coords.longitude, "gps");
    }, positionFailed, {enableHighAccuracy: true, maximumAge: 30000, timeout: 20000});
  }

  function stopWatching() {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
  }

  function positionFailed(error) {
    if (state.source === "gps") return;  // a late timeout after a fix: keep the fix
    $("position-text").textContent = error && error.code === 1 ? T.geo_denied : T.geo_failed;
    $("pick").hidden = false;
  }

  /* ---- The list: exactly what the API returned, in its order. */
  function loadList() {
    if (!state.position) return;
    var number = ++state.request, list = $("list");
    state.listedAt = state.position;
    list.setAttribute("aria-busy", "true");
    $("list-status").textContent = T.loading;
    fetch(cfg.nearestUrl + "?" + apiQuery(state.filters, state.position))
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json().then(function (body) {
          return {body: body, staleSince: response.headers.get("X-Stations-Stale-Since")};
        });
      })
      .then(function (result) {
        if (number === state.request) showList(result.body.data, result.staleSince);
      }, function () {  // the network or the server failed (a bug in showList is not caught)
        if (number !== state.request) return;
        list.setAttribute("aria-busy", "false");
        $("list-status").textContent = T.load_failed;
      });
  }

  function showList(stations, staleSince) {
    var list = $("list");
    state.stations = stations;
    list.textContent = "";
    stations.forEach(function (s, i) { list.appendChild(listItem(s, i + 1)); });
    list.setAttribute("aria-busy", "false");
    var status = stations.length ? "" : T.none_found;
    if (staleSince) status = fill(T.stale, {time: shenzhenTime(Date.parse(staleSince))});
    $("list-status").textContent = status;
    document.body.classList.toggle("stale", !!staleSince);
    var banner = $("sample-banner");
    if (banner && stations.length) banner.hidden = !stations.some(function (s) { return s.is_sample; });
    whenMap(function (m) { m.showList(stations); });
    if (window.performance && performance.mark) performance.mark("list-shown");
  }

  function listItem(s, rank) {
    var item = el("li", "station");
    item.dataset.stationId = s.id;
    var open = el("button", "station-open");
    open.type = "button";
    open.setAttribute("aria-haspopup", "dialog");
    open.appendChild(el("span", "rank", rank));
    var body = el("span", "station-body");
    body.appendChild(el("span", "name", s.name));
    body.appendChild(el("span", "line", T.kinds[s.kind] + " · " + fill(T.straight, {d: distanceText(s.distance_m)})));
    body.appendChild(el("span", "line", fill(T.walk, {t: durationText(s.distance_m / WALK_M_PER_MIN)}) +
      " · " + fill(T.ebike, {t: durationText(s.distance_m / EBIKE_M_PER_MIN)})));
    var hours = hoursState(s);
    body.appendChild(el("span", "hours hours-" + hours[0], hours[1]));
    body.appendChild(fillAmenities(el("ul", "ams"), s.amenities, cfg.listAmenities));
    var verified = body.appendChild(el("span", "verified", verifiedText(s.verified_at)));
    if (s.riders_report_otherwise) {
      body.appendChild(el("span", "warning", "⚠ " + T.riders_otherwise));
    } else if (s.may_be_out_of_date) {
      verified.appendChild(document.createTextNode(" · "));
      verified.appendChild(el("span", "warning", T.may_be_out_of_date));
    }
    open.appendChild(body);
    open.addEventListener("click", function () { showDetail(s); });
    item.appendChild(open);
    var go = el("a", "go", T.navigate);
    go.href = navLinks(s)[IN_WECHAT ? "amap-web" : "amap"];
    go.setAttribute("aria-label", T.navigate + ": " + s.name);
    item.appendChild(go);
    return item;
  }

  /* ---- Station detail. */
  function showDetail(s) {
    var dialog = $("detail");
    fillDetail(s);
    $("copy-status").textContent = "";
    $("checkin-status").textContent = "";
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
  }

  function fillDetail(s) {
    var dialog = $("detail");
    $("detail-name").textContent = s.name;
    $("detail-kind").textContent = T.kinds[s.kind];
    var hours = hoursState(s);
    $("detail-state").textContent = hours[1];
    $("detail-state").className = "hours hours-" + hours[0];
    $("detail-address").textContent = s.address || "—";
    var phone = $("detail-phone");
    phone.textContent = s.phone || "—";
    if (s.phone) phone.href = "tel:" + s.phone.replace(/[^0-9+]/g, ""); else phone.removeAttribute("href");
    $("detail-hours").textContent = hoursInWords(s.opening_hours);
    $("detail-verified").textContent = verifiedText(s.verified_at);
    fillAmenities($("detail-amenities"), s.amenities, cfg.allAmenities);
    $("detail-otherwise").hidden = !s.riders_report_otherwise;
    $("detail-stale").hidden = !s.may_be_out_of_date;
    fillCheckins(s);
    var links = navLinks(s);
    dialog.querySelectorAll("[data-nav]").forEach(function (a) { a.href = links[a.dataset.nav]; });
    dialog.dataset.stationId = s.id;
  }

  /* ---- Check-ins: one tap per fact. A rider is a random id this browser keeps, nothing more. */
  var DEVICE_KEY = "stations.device", visitDevice = null;

  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function deviceId() {
    try {
      var id = localStorage.getItem(DEVICE_KEY);
      if (!id) { id = randomId(); localStorage.setItem(DEVICE_KEY, id); }
      return id;
    } catch (e) {  // storage blocked: one id for this visit
      return visitDevice || (visitDevice = randomId());
    }
  }

  function agoText(iso) {
    var days = Math.floor((Date.now() - Date.parse(iso)) / 86400e3);
    if (days < 1) return T.today;
    return days < 2 ? T.yesterday : fill(T.days_ago, {n: days});
  }

  /* What riders said of a fact (the last 24 hours, else the last 7 days), and who confirmed it. */
  function saidText(fact, c) {
    var day = c.riders_yes_24h + c.riders_no_24h > 0;
    var values = {when: day ? T.within_24h : T.within_7d,
      what: fact === "open" ? "" : T.amenities[fact].toLowerCase()};
    var yes = day ? c.riders_yes_24h : c.riders_yes_7d, no = day ? c.riders_no_24h : c.riders_no_7d;
    var parts = [];
    if (yes) parts.push(fill(fact === "open" ? T.said_open : T.said_yes, Object.assign({n: yes}, values)));
    if (no) parts.push(fill(fact === "open" ? T.said_closed : T.said_no, Object.assign({n: no}, values)));
    if (c.confirmed_by) parts.push(fill(T["confirmed_by_" + c.confirmed_by], {when: agoText(c.confirmed_at)}));
    return (c.riders_otherwise ? "⚠ " : "") + parts.join(" · ");
  }

  function fillCheckins(s) {
    var list = $("detail-checkins");
    list.textContent = "";
    if (!s.confirmations) return;  // an answer kept from before check-ins
    cfg.checkinFacts.forEach(function (fact) {
      var c = s.confirmations[fact], name = fact === "open" ? T.open_fact : T.amenities[fact];
      var item = el("li", "checkin" + (c.riders_otherwise ? " otherwise" : ""));
      item.dataset.fact = fact;
      var text = el("span", "checkin-text");
      text.appendChild(el("span", "checkin-name", name));
      text.appendChild(el("span", "checkin-said", saidText(fact, c)));
      item.appendChild(text);
      var group = el("span", "checkin-buttons");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", name);
      [true, false].forEach(function (value) {
        var words = fact === "open" ? [T.yes_open, T.no_open] : [T.yes_has, T.no_has];
        var button = el("button", value ? "yes" : "no", words[value ? 0 : 1]);
        button.type = "button";
        button.setAttribute("aria-pressed", state.said[s.id + ":" + fact] === value ? "true" : "false");
        button.addEventListener("click", function () { checkIn(s, fact, value); });
        group.appendChild(button);
      });
      item.appendChild(group);
      list.appendChild(item);
    });
  }

  function checkIn(s, fact, value) {
    var body = {device: deviceId()}, status = $("checkin-status");
    if (fact === "open") body.open = value; else { body.amenities = {}; body.amenities[fact] = value; }
    fetch(fill(cfg.checkinUrl, {id: s.id}), {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)})
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (answer) {
        state.said[s.id + ":" + fact] = value;
        status.textContent = answer.data.counted ? T.checkin_thanks : T.checkin_repeat;
        refreshStation(s);
      }, function (error) {
        status.textContent = error.message === "429" ? T.checkin_limited : T.checkin_failed;
      });
  }

  /* The station as it is now (with what riders just said), in the open detail and the list. */
  function refreshStation(s) {
    fetch(fill(cfg.stationUrl, {id: s.id}), {cache: "no-cache"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) {
        Object.assign(s, body.data, {distance_m: s.distance_m});
        if ($("detail").dataset.stationId === String(s.id)) fillDetail(s);
        var rank = state.stations.indexOf(s), item = document.querySelector('#list li[data-station-id="' + s.id + '"]');
        if (rank >= 0 && item) item.replaceWith(listItem(s, rank + 1));
      }, function () {});  // the check-in is in; the refresh is extra
  }

  function copyAddress() {
    var text = $("detail-address").textContent;
    var done = function () { $("copy-status").textContent = T.copied; };
    var failed = function () { $("copy-status").textContent = T.copy_failed; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
      return;
    }
    var field = el("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    $("detail").appendChild(field);
    field.select();
    try { if (document.execCommand("copy")) done(); else failed(); } catch (e) { failed(); }
    field.remove();
  }

  /* ---- The map (built by Folium; ready after Leaflet has loaded). */
  var mapApi = null, mapWaiting = [];

  function whenMap(callback) {
    if (mapApi) callback(mapApi); else mapWaiting.push(callback);
  }

  function startMap(parts) {
    var map = parts.map, cluster = parts.cluster, markers = new Map();
    var me = null, ranked = L.layerGroup().addTo(map), loading = false, again = false, loaded = null;

    function stationIcon(kind) {
      return L.divIcon({className: "pin pin-" + kind, html: "<span></span>", iconSize: [44, 44]});
    }

    function loadMarkers() {
      if (!navigator.onLine || map.getZoom() < cfg.markerMinZoom) return;
      if (loaded && loaded.contains(map.getBounds())) return;  // this view's markers are in
      if (loading) { again = true; return; }
      var b = map.getBounds().pad(0.2);
      var sw = fromMap(b.getSouth(), b.getWest()), ne = fromMap(b.getNorth(), b.getEast());
      loading = true;
      fetch(cfg.stationsUrl + "?format=geojson&per_page=500&bbox=" +
        [sw[1], sw[0], ne[1], ne[0]].map(function (v) { return v.toFixed(5); }).join(","))
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) {
          loading = false;
          loaded = b;
          var fresh = [];
          body.features.forEach(function (f) {
            if (markers.has(f.id)) return;
            var s = Object.assign({lng: f.geometry.coordinates[0], lat: f.geometry.coordinates[1]}, f.properties);
            var marker = L.marker(toMap(s.lat, s.lng), {icon: stationIcon(s.kind), title: s.name, alt: s.name});
            marker.on("click", function () { showDetail(s); });
            markers.set(f.id, marker);
            fresh.push(marker);
          });
          cluster.addLayers(fresh);
          if (again) { again = false; loadMarkers(); }
        }, function () { loading = false; });  // markers are extra: the list works without them
    }

    mapApi = {
      map: map, cluster: cluster, markers: markers, ranked: ranked,
      positionMarker: function () { return me; },
      showPosition: function (lat, lng, centre) {
        var at = toMap(lat, lng);
        if (!me) {
          me = L.circleMarker(at, {radius: 9, color: "#fff", weight: 3, fillColor: "#1558d6",
            fillOpacity: 1, interactive: false}).addTo(map);
        } else {
          me.setLatLng(at);
        }
        if (centre) map.setView(at, Math.max(map.getZoom(), 15), {animate: false});
      },
      showList: function (stations) {
        ranked.clearLayers();
        stations.forEach(function (s, i) {
          var pin = L.marker(toMap(s.lat, s.lng), {
            icon: L.divIcon({className: "rank-pin", html: "<span>" + (i + 1) + "</span>", iconSize: [44, 44]}),
            title: s.name, alt: s.name, zIndexOffset: 1000
          });
          pin.on("click", function () { showDetail(s); });
          ranked.addLayer(pin);
        });
      }
    };
    map.on("moveend", loadMarkers);
    map.on("click", function (e) {
      if (state.source === "gps") return;
      var p = fromMap(e.latlng.lat, e.latlng.lng);
      stopWatching();
      setPosition(p[0], p[1], "map");
    });
    window.riderMap = mapApi;
    mapWaiting.splice(0).forEach(function (callback) { callback(mapApi); });
    loadMarkers();
  }

  /* ---- Wiring. */
  document.querySelectorAll(".chip").forEach(function (chip) {
    chip.addEventListener("click", function () { toggleFilter(chip); });
  });
  window.addEventListener("popstate", function () {
    state.filters = filtersFrom(location.search);
    showFilters();
    loadList();
  });
  $("locate").addEventListener("click", locate);
  window.addEventListener("online", loadList);
  $("pick-district").addEventListener("change", function (e) {
    var d = cfg.districts[e.target.value];
    if (!d) return;
    stopWatching();
    recenter = true;
    setPosition(d.lat, d.lng, "district");
  });
  $("detail-close").addEventListener("click", function () { $("detail").close(); });
  $("detail").addEventListener("click", function (e) {  // a tap on the backdrop closes it
    var box = this.getBoundingClientRect();
    if (e.clientY < box.top || e.clientY > box.bottom || e.clientX < box.left || e.clientX > box.right) this.close();
  });
  $("copy-address").addEventListener("click", copyAddress);
  if (IN_WECHAT) $("wechat-hint").hidden = false;
  showFilters();
  if (window.stationMap) startMap(window.stationMap);
  else document.addEventListener("stationmap:ready", function () { startMap(window.stationMap); });
  locate();
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register(cfg.serviceWorkerUrl).catch(function () {});
    });
  }
})();
