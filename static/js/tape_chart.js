// The tape chart's hands (templates/operator/calendar.html). Progressive enhancement:
// without this script every bar and every free night is still a link.
//  - Drag a stay's bar (one with data-move) to another room and/or other dates: the
//    browser goes to the move's confirm page with the new unit_id, check_in and
//    check_out (same length); nothing moves before the operator confirms there.
//  - Drag across free nights of one room: the selection page for those nights (close
//    them with a reason, or record a direct stay).
//  - Arrow keys move the focus between bars and free nights (Home / End: the row's ends).
// Pointer events serve the mouse, pen and touch alike; draggable bars have
// `touch-action: none` (tape_chart.css). Positions are set through element.style,
// which the content policy allows (inline style attributes it does not).
(function () {
  'use strict';

  var DAY_MS = 86400000;
  var THRESHOLD = 6; // CSS pixels a press moves before it becomes a drag
  var EDGE = 36; // CSS pixels from the region's edge where a drag scrolls it

  function parse(value) {
    return Date.UTC(+value.slice(0, 4), +value.slice(5, 7) - 1, +value.slice(8, 10));
  }
  function addDays(value, n) {
    return new Date(parse(value) + n * DAY_MS).toISOString().slice(0, 10);
  }
  function daysBetween(a, b) { return Math.round((parse(b) - parse(a)) / DAY_MS); }
  function fill(template, values) {
    return (template || '').replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : match;
    });
  }
  function shortDay(value) {
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || 'ja', {
        month: 'numeric', day: 'numeric', weekday: 'short', timeZone: 'UTC'
      }).format(new Date(parse(value)));
    } catch (e) {
      return value;
    }
  }
  function toArray(list) { return Array.prototype.slice.call(list); }

  function setUp(chart) {
    var wrap = chart.closest('.tape-wrap') || chart.parentNode;
    var status = document.querySelector('[data-tape-status]');
    var dayCells = toArray(chart.querySelectorAll('.tape-head [data-day]'));
    var days = dayCells.map(function (cell) { return cell.getAttribute('data-day'); });
    var rows = toArray(chart.querySelectorAll('.tape-row'));
    var active = null; // the gesture under way
    var suppressClick = false; // a drag ended: the click that follows is not a click
    if (!days.length || !rows.length) { return; }

    function say(text) { if (status) { status.textContent = text; } }

    function nightsText(n) {
      return n === 1 ? chart.dataset.msgNightsOne : fill(chart.dataset.msgNightsOther, { n: n });
    }

    // The day column under x and the room row under y, held to the chart's edges.
    function columnAt(x) {
      for (var i = 0; i < dayCells.length; i++) {
        if (x < dayCells[i].getBoundingClientRect().right) { return i; }
      }
      return dayCells.length - 1;
    }
    function rowAt(y) {
      for (var i = 0; i < rows.length; i++) {
        if (y < rows[i].getBoundingClientRect().bottom) { return rows[i]; }
      }
      return rows[rows.length - 1];
    }
    function dayIndex(value) { return daysBetween(days[0], value); }
    function roomName(row) {
      var name = row.querySelector('.room .name');
      return name ? name.textContent.trim() : '';
    }

    function autoScroll(e) {
      var box = wrap.getBoundingClientRect();
      var room = rows[0].querySelector('.room');
      var left = box.left + (room ? room.getBoundingClientRect().width : 0);
      if (e.clientX > box.right - EDGE) { wrap.scrollLeft += 14; }
      else if (e.clientX < left + EDGE) { wrap.scrollLeft -= 14; }
      if (e.clientY > box.bottom - EDGE) { wrap.scrollTop += 14; }
      else if (e.clientY < box.top + EDGE * 1.5) { wrap.scrollTop -= 14; }
    }

    // --- moving a stay ---------------------------------------------------------------

    function startMove(e, bar) {
      active = {
        type: 'move', bar: bar, pointer: e.pointerId, x: e.clientX, y: e.clientY,
        col0: columnAt(e.clientX), row0: bar.closest('.tape-row'), dragging: false,
        ghost: null, row: null, delta: 0
      };
      try { bar.setPointerCapture(e.pointerId); } catch (err) { /* not capturable */ }
    }

    function placeGhost(a, row, delta) {
      var bar = a.bar;
      var checkIn = addDays(bar.dataset.start, delta);
      var checkOut = addDays(bar.dataset.checkOut, delta);
      var first = Math.max(0, dayIndex(checkIn));
      var last = Math.min(days.length - 1, dayIndex(checkOut) - 1);
      var ghost = a.ghost;
      if (last < first) {
        ghost.hidden = true;
      } else {
        var base = chart.getBoundingClientRect();
        var from = dayCells[first].getBoundingClientRect();
        var to = dayCells[last].getBoundingClientRect();
        var box = row.getBoundingClientRect();
        ghost.hidden = false;
        ghost.style.left = (from.left - base.left) + 'px';
        ghost.style.width = (to.right - from.left) + 'px';
        ghost.style.top = (box.top - base.top + 4) + 'px';
        ghost.style.height = (box.height - 8) + 'px';
        ghost.classList.toggle(
          'refused', row.classList.contains('off-sale') || overlapsAnother(row, ghost, bar)
        );
      }
      if (row !== a.row || delta !== a.delta) {
        say(fill(chart.dataset.msgMove, {
          room: roomName(row), first: shortDay(checkIn), last: shortDay(checkOut)
        }));
      }
      a.row = row;
      a.delta = delta;
      a.checkIn = checkIn;
      a.checkOut = checkOut;
    }

    // Would the moved stay land on another bar? (A hint only: the server decides.)
    function overlapsAnother(row, ghost, bar) {
      var g = ghost.getBoundingClientRect();
      return toArray(row.querySelectorAll('.bar')).some(function (other) {
        if (other.dataset.bookingId && other.dataset.bookingId === bar.dataset.bookingId) {
          return false;
        }
        var r = other.getBoundingClientRect();
        return r.left < g.right - 4 && r.right > g.left + 4;
      });
    }

    function moveMove(e, a) {
      if (!a.dragging) {
        if (Math.abs(e.clientX - a.x) + Math.abs(e.clientY - a.y) < THRESHOLD) { return; }
        a.dragging = true;
        a.bar.classList.add('dragging');
        a.ghost = document.createElement('div');
        a.ghost.className = 'tape-ghost';
        a.ghost.setAttribute('aria-hidden', 'true');
        a.ghost.textContent = a.bar.textContent.trim();
        chart.appendChild(a.ghost);
      }
      autoScroll(e);
      placeGhost(a, rowAt(e.clientY), columnAt(e.clientX) - a.col0);
    }

    function endMove(a) {
      var unchanged = a.row === a.row0 && a.delta === 0;
      if (unchanged) { say(''); return; }
      var url = new URL(a.bar.dataset.move, window.location.href);
      url.searchParams.set('unit_id', a.row.dataset.unitId);
      url.searchParams.set('check_in', a.checkIn);
      url.searchParams.set('check_out', a.checkOut);
      window.location.assign(url.toString());
    }

    // --- selecting free nights ---------------------------------------------------------

    function startSelect(e, cell) {
      var row = cell.closest('.tape-row');
      var free = {};
      toArray(row.querySelectorAll('a.free[data-day]')).forEach(function (c) {
        free[dayIndex(c.dataset.day)] = c;
      });
      var col = dayIndex(cell.dataset.day);
      active = {
        type: 'select', cell: cell, pointer: e.pointerId, x: e.clientX, y: e.clientY, row: row,
        free: free, col0: col, lo: col, hi: col, dragging: false
      };
      if (e.pointerType === 'mouse') {
        try { cell.setPointerCapture(e.pointerId); } catch (err) { /* not capturable */ }
      }
    }

    function mark(a, on) {
      for (var i = a.lo; i <= a.hi; i++) {
        if (a.free[i]) { a.free[i].classList.toggle('selected', on); }
      }
    }

    function moveSelect(e, a) {
      if (!a.dragging) {
        if (Math.abs(e.clientX - a.x) < THRESHOLD) { return; }
        a.dragging = true;
      }
      autoScroll(e);
      var col = columnAt(e.clientX);
      var lo = a.col0;
      var hi = a.col0;
      while (hi < col && a.free[hi + 1]) { hi++; } // free nights only, without a gap
      while (lo > col && a.free[lo - 1]) { lo--; }
      if (lo === a.lo && hi === a.hi) { return; }
      mark(a, false);
      a.lo = lo;
      a.hi = hi;
      mark(a, true);
      say(roomName(a.row) + ' · ' + shortDay(days[lo]) + ' – ' + shortDay(addDays(days[hi], 1)) +
          ' · ' + nightsText(hi - lo + 1));
    }

    function endSelect(a) {
      var url = new URL(chart.dataset.selectionUrl, window.location.href);
      url.searchParams.set('unit_id', a.row.dataset.unitId);
      url.searchParams.set('start', days[a.lo]);
      url.searchParams.set('end', addDays(days[a.hi], 1));
      window.location.assign(url.toString());
    }

    // --- the gesture ---------------------------------------------------------------------

    function finish(navigate) {
      var a = active;
      active = null;
      if (!a) { return; }
      if (a.type === 'move') {
        a.bar.classList.remove('dragging');
        if (a.ghost) { a.ghost.remove(); }
      }
      if (!a.dragging) { return; } // a press without a drag: the click opens the link
      suppressClick = true;
      if (!navigate) {
        if (a.type === 'select') { mark(a, false); }
        say('');
        return;
      }
      if (a.type === 'move') { endMove(a); } else { endSelect(a); }
    }

    chart.addEventListener('pointerdown', function (e) {
      suppressClick = false;
      if (active || !e.isPrimary || (e.pointerType === 'mouse' && e.button !== 0)) { return; }
      var bar = e.target.closest('a.bar[data-move]');
      if (bar) { startMove(e, bar); return; }
      var cell = e.target.closest('a.free[data-day]');
      if (cell) { startSelect(e, cell); }
    });
    chart.addEventListener('pointermove', function (e) {
      if (!active || e.pointerId !== active.pointer) { return; }
      if (active.type === 'move') { moveMove(e, active); } else { moveSelect(e, active); }
    });
    chart.addEventListener('pointerup', function (e) {
      if (active && e.pointerId === active.pointer) { finish(true); }
    });
    chart.addEventListener('pointercancel', function (e) {
      if (active && e.pointerId === active.pointer) { finish(false); suppressClick = false; }
    });
    chart.addEventListener('click', function (e) {
      if (suppressClick) {
        suppressClick = false;
        e.preventDefault();
        e.stopPropagation();
      }
    }, true);
    chart.addEventListener('dragstart', function (e) { e.preventDefault(); });
    chart.addEventListener('contextmenu', function (e) { if (active) { e.preventDefault(); } });

    // --- the keyboard --------------------------------------------------------------------

    function links(row) { return toArray(row.querySelectorAll('a.bar, a.free')); }

    function below(from, row) {
      var box = from.getBoundingClientRect();
      var x = box.left + Math.min(box.width, dayCells[0].getBoundingClientRect().width) / 2;
      var best = null;
      var distance = Infinity;
      links(row).forEach(function (link) {
        var r = link.getBoundingClientRect();
        var d = x < r.left ? r.left - x : (x > r.right ? x - r.right : 0);
        if (d < distance) { best = link; distance = d; }
      });
      return best;
    }

    chart.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && active) { finish(false); return; }
      var here = e.target;
      if (!here.matches || !here.matches('a.bar, a.free') || e.altKey || e.ctrlKey || e.metaKey) {
        return;
      }
      var row = here.closest('.tape-row');
      var inRow = links(row);
      var i = inRow.indexOf(here);
      var target = null;
      if (e.key === 'ArrowRight') { target = inRow[i + 1]; }
      else if (e.key === 'ArrowLeft') { target = inRow[i - 1]; }
      else if (e.key === 'Home') { target = inRow[0]; }
      else if (e.key === 'End') { target = inRow[inRow.length - 1]; }
      else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        var step = e.key === 'ArrowDown' ? 1 : -1;
        for (var r = rows.indexOf(row) + step; r >= 0 && r < rows.length && !target; r += step) {
          target = below(here, rows[r]);
        }
      } else {
        return;
      }
      e.preventDefault();
      if (target) {
        target.focus();
        target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      }
    });
  }

  function init() {
    toArray(document.querySelectorAll('[data-tape-chart]')).forEach(setUp);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
