// Maps (templates/_map.html) on Leaflet, served from static/vendor: no CDN. Without
// MAP_TILE_URL (tests, offline) the pins stand on an outline of Japan that Engawa serves
// itself; with it, on the configured tiles. Everything written into the page is text
// (textContent), never markup from the data.
(function () {
  'use strict';
  if (!window.L) { return; } // Leaflet did not load: the text fallback stays

  // The main islands and Okinawa; every facility lies in JAPAN_BOX (facilities/geo.py).
  var JAPAN = [[24.0, 122.9], [45.6, 146.0]];
  var JAPAN_BOX = { south: 20, north: 46, west: 122, east: 154 };
  // Closest zoom when fitting pins: with tiles, streets; on the bare outline, a region.
  var MAX_ZOOM = { tiles: 15, outline: 8 };
  var NEAR_METRES = 100000; // a postal code this close to the pin keeps the map on the pin

  function inJapan(lat, lng) {
    return lat >= JAPAN_BOX.south && lat <= JAPAN_BOX.north &&
      lng >= JAPAN_BOX.west && lng <= JAPAN_BOX.east;
  }

  function escapeText(text) {
    var box = document.createElement('div');
    box.textContent = text;
    return box.innerHTML;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  // A Leaflet map in `el` showing all of Japan: tiles if configured, and the outline.
  function createMap(el) {
    var data = el.dataset;
    el.hidden = false;
    L.Icon.Default.imagePath = data.iconPath;
    // A maximum zoom even without tiles: the pin groups (markercluster) need one.
    var map = L.map(el, { zoomControl: false, zoomSnap: 0.5, maxZoom: 18 });
    L.control.zoom({ zoomInTitle: data.msgZoomIn, zoomOutTitle: data.msgZoomOut }).addTo(map);
    el.classList.add(data.tileUrl ? 'has-tiles' : 'no-tiles');
    if (data.tileUrl) {
      L.tileLayer(data.tileUrl, {
        maxZoom: 18,
        attribution: escapeText(data.tileAttribution || '')
      }).addTo(map);
    }
    map.attributionControl.addAttribution('Natural Earth');
    map.on('popupopen', function (event) {
      var close = event.popup.getElement().querySelector('.leaflet-popup-close-button');
      if (close) { close.setAttribute('aria-label', data.msgClose); }
    });
    map.fitBounds(JAPAN, { animate: false });
    drawOutline(map, el);
    el.engawaMap = map;
    return map;
  }

  // Japan's outline (Natural Earth) under everything, so pins have a place without tiles.
  function drawOutline(map, el) {
    var pane = map.createPane('outline');
    pane.style.zIndex = 250; // above tiles (200), below pins and popups
    pane.style.pointerEvents = 'none';
    var filled = !el.dataset.tileUrl;
    fetch(el.dataset.outlineUrl, { credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) { throw new Error('outline ' + response.status); }
        return response.json();
      })
      .then(function (outline) {
        L.geoJSON(outline, {
          pane: 'outline',
          interactive: false,
          style: {
            color: '#8a5a2b', weight: 1, opacity: filled ? 0.9 : 0.5,
            fillColor: '#f4efe2', fillOpacity: filled ? 1 : 0
          }
        }).addTo(map);
        el.dataset.outline = 'ready';
      })
      .catch(function () { el.dataset.outline = 'failed'; });
  }

  // --- pins: search results and the facility page ---------------------------------------

  function popupFor(pin) {
    var box = element('div', 'map-popup');
    var link = element('a', '', pin.title);
    link.href = pin.url;
    box.appendChild(link);
    if (pin.place) { box.appendChild(element('span', 'place', pin.place)); }
    if (pin.price) { box.appendChild(element('strong', 'price', pin.price)); }
    return box;
  }

  // A group marker is a focusable button named by how many places it holds.
  function nameClusters(el) {
    var template = el.dataset.msgCluster || '{n}';
    el.querySelectorAll('.marker-cluster').forEach(function (icon) {
      var count = icon.textContent.trim();
      icon.setAttribute('role', 'button');
      icon.setAttribute('aria-label', template.replace('{n}', count));
      icon.setAttribute('title', template.replace('{n}', count));
    });
  }

  function pinsMap(el) {
    var pins = JSON.parse(el.dataset.pins || '[]');
    var map = createMap(el);
    // Pins that would overlap are grouped into one numbered marker (Leaflet.markercluster),
    // so every marker keeps a target of its own; activating a group zooms into it.
    var layer = (pins.length > 1 && L.markerClusterGroup)
      ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40, animate: false })
      : map;
    pins.forEach(function (pin) {
      var name = pin.price ? pin.title + ' ' + pin.price : pin.title;
      L.marker([pin.lat, pin.lng], { title: name, alt: name, keyboard: true })
        .bindPopup(popupFor(pin))
        .addTo(layer);
    });
    if (layer !== map) {
      layer.on('animationend spiderfied', function () { nameClusters(el); });
      map.on('zoomend moveend', function () { nameClusters(el); });
      layer.addTo(map);
    }
    if (pins.length) {
      var bounds = L.latLngBounds(pins.map(function (pin) { return [pin.lat, pin.lng]; }));
      map.fitBounds(bounds, {
        animate: false,
        padding: [32, 32],
        maxZoom: el.dataset.tileUrl ? MAX_ZOOM.tiles : MAX_ZOOM.outline
      });
    }
    return map;
  }

  // --- the operator's pin -----------------------------------------------------------------

  function pickerMap(el) {
    var root = el.closest('[data-pin-picker]');
    var latInput = document.getElementById(root.dataset.latInput);
    var lngInput = document.getElementById(root.dataset.lngInput);
    var status = root.querySelector('[data-pin-status]');
    root.querySelector('[data-pin-help]').hidden = false;
    root.querySelector('[data-pin-actions]').hidden = false;
    var map = createMap(el);
    var zoom = el.dataset.tileUrl ? MAX_ZOOM.tiles : MAX_ZOOM.outline;
    var marker = null;

    function say(text) { status.textContent = text; }

    function fromInputs() {
      var lat = parseFloat(latInput.value);
      var lng = parseFloat(lngInput.value);
      return isFinite(lat) && isFinite(lng) && inJapan(lat, lng) ? L.latLng(lat, lng) : null;
    }

    function place(latlng) {
      if (!marker) {
        var title = el.dataset.pinTitle;
        marker = L.marker(latlng, { draggable: true, keyboard: true, title: title, alt: title });
        marker.on('dragend', function () { set(marker.getLatLng()); });
        marker.addTo(map);
      } else {
        marker.setLatLng(latlng);
      }
    }

    // The pin and the form's fields move together.
    function set(latlng) {
      if (!inJapan(latlng.lat, latlng.lng)) {
        var back = fromInputs();
        if (marker && back) { marker.setLatLng(back); }
        say(el.dataset.msgOutside);
        return;
      }
      place(latlng);
      latInput.value = latlng.lat.toFixed(6);
      lngInput.value = latlng.lng.toFixed(6);
      say(el.dataset.msgPin.replace('{lat}', latInput.value).replace('{lng}', lngInput.value));
    }

    var start = fromInputs();
    if (start) {
      place(start);
      map.setView(start, zoom, { animate: false });
    }
    map.on('click', function (event) { set(event.latlng); });
    root.querySelector('[data-pin-centre]').addEventListener('click', function () {
      set(map.getCenter());
    });
    [latInput, lngInput].forEach(function (input) {
      input.addEventListener('change', function () {
        var typed = fromInputs();
        if (typed) { place(typed); map.panTo(typed); }
      });
    });
    // A postal code found: show its area, unless the pin already stands near it.
    el.engawaShowArea = function (centre) {
      var here = L.latLng(centre.lat, centre.lng);
      if (marker && map.distance(marker.getLatLng(), here) < NEAR_METRES) {
        map.setView(marker.getLatLng(), zoom, { animate: false });
      } else {
        map.setView(here, centre.zoom, { animate: false });
      }
    };
    return map;
  }

  // --- postal code → address ---------------------------------------------------------------

  function postalLookup(button) {
    var fieldset = button.closest('[data-location]');
    var form = button.form;
    var input = form.elements.postal_code;
    var status = fieldset.querySelector('[data-postal-status]');
    var mapEl = fieldset.querySelector('[data-map=picker]');
    var data = button.dataset;
    button.hidden = false;

    function say(text) { status.textContent = text; }

    function fill(place) {
      form.elements.prefecture.value = String(place.prefecture);
      form.elements.municipality.value = place.municipality;
      var address = form.elements.address;
      if (place.town && address.value.indexOf(place.town) !== 0) { address.value = place.town; }
      input.value = place.display_code;
      say(place.town ? data.msgFound : data.msgNoTown);
      if (mapEl && mapEl.engawaShowArea) { mapEl.engawaShowArea(place.centre); }
      address.focus();
    }

    function lookup() {
      var code = input.value.trim();
      if (!code) {
        say(data.msgEmpty);
        input.focus();
        return;
      }
      button.disabled = true;
      fetch(data.url.replace('CODE', encodeURIComponent(code)), {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' }
      })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, body: body }; });
        })
        .then(function (answer) {
          if (answer.ok) { fill(answer.body); return; }
          say((answer.body.error && answer.body.error.message) || data.msgFailed);
          input.focus();
        })
        .catch(function () { say(data.msgFailed); })
        .then(function () { button.disabled = false; });
    }

    button.addEventListener('click', lookup);
    input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') { // look up rather than send the half-filled form
        event.preventDefault();
        lookup();
      }
    });
  }

  // --- list / map toggle of search results ---------------------------------------------------

  function viewToggle(toggle) {
    var list = document.getElementById(toggle.dataset.list);
    var mapEl = document.getElementById(toggle.dataset.mapId);
    if (!list || !mapEl) { return; }
    mapEl.dataset.deferred = 'toggle'; // drawn when first shown: Leaflet needs its size
    toggle.hidden = false;
    var map = null;
    toggle.addEventListener('click', function (event) {
      var button = event.target.closest('button[data-view]');
      if (!button) { return; }
      var showMap = button.dataset.view === 'map';
      toggle.querySelectorAll('button[data-view]').forEach(function (each) {
        each.setAttribute('aria-pressed', String(each === button));
      });
      list.hidden = showMap;
      mapEl.hidden = !showMap;
      if (showMap && !map) { map = pinsMap(mapEl); } else if (showMap) { map.invalidateSize(); }
    });
  }

  document.querySelectorAll('[data-view-toggle]').forEach(viewToggle);
  document.querySelectorAll('[data-map]').forEach(function (el) {
    if (el.dataset.deferred) { return; }
    if (el.dataset.map === 'picker') { pickerMap(el); } else { pinsMap(el); }
  });
  document.querySelectorAll('[data-postal-lookup]').forEach(postalLookup);
})();
