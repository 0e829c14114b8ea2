// Choosing the dates of a stay: the facility's month calendar as a range picker, and
// the check-in/check-out pair of the search and room forms. Loaded by the macros of
// templates/booking/_calendar.html. Progressive enhancement: without this script the
// calendar's days are links (first the check-in, then the check-out) and the forms
// keep two plain date inputs.
(function () {
  'use strict';

  if (window.engawaStayDates) { return; } // loaded twice on one page: once is enough
  window.engawaStayDates = true;

  var DAY_MS = 86400000;

  // Dates are ISO strings ('2026-12-24'), compared as strings; arithmetic in UTC.
  function parse(value) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value || '')) { return NaN; }
    var t = Date.UTC(+value.slice(0, 4), +value.slice(5, 7) - 1, +value.slice(8, 10));
    return new Date(t).toISOString().slice(0, 10) === value ? t : NaN;
  }
  function valid(value) { return !isNaN(parse(value)); }
  function addDays(value, n) { return new Date(parse(value) + n * DAY_MS).toISOString().slice(0, 10); }
  function nightsBetween(a, b) { return Math.round((parse(b) - parse(a)) / DAY_MS); }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : match;
    });
  }

  function lang() { return document.documentElement.lang || 'ja'; }

  // "2026年12月24日(木)" in Japanese, "Thu, December 24, 2026" in English: with the year,
  // as the server's messages (the `day` filter) write a stay's dates.
  function dayLabel(value) {
    try {
      return new Intl.DateTimeFormat(lang(), {
        year: 'numeric', month: 'long', day: 'numeric', weekday: 'short', timeZone: 'UTC'
      }).format(new Date(parse(value)));
    } catch (e) {
      return value;
    }
  }

  // "3泊" / "3 nights", from the page's messages (data-night-one / data-night-other).
  function nightsText(source, n) {
    var template = source && (n === 1 ? source.dataset.nightOne : source.dataset.nightOther);
    if (template) { return fill(template, { n: n }); }
    return lang() === 'ja' ? n + '泊' : n + (n === 1 ? ' night' : ' nights');
  }

  function fire(input) {
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
  }

  // --- The facility's month calendar --------------------------------------------------

  function setUpCalendar(root) {
    var table = root.querySelector('table.stay-calendar');
    if (!table) { return; }
    var cells = Array.prototype.slice.call(table.querySelectorAll('td[data-date]'));
    var picks = cells.map(function (td) { return td.querySelector('.pick'); });
    var byDate = {};
    cells.forEach(function (td, i) { byDate[td.dataset.date] = i; });
    var minNights = +root.dataset.minNights || 1;
    var maxNights = +root.dataset.maxNights || 1;
    var serverIn = root.dataset.checkIn || null;
    var state = { checkIn: serverIn, checkOut: root.dataset.checkOut || null };
    var status = root.querySelector('.stay-status');
    var apply = root.querySelector('.stay-apply');
    var clearLink = root.querySelector('.stay-clear');
    var section = root.closest('section') || document;
    var form = document.querySelector('form.book-form');
    var inInput = form && form.querySelector('input[name=check_in]');
    var outInput = form && form.querySelector('input[name=check_out]');
    var syncing = false;

    function inGrid(value) { return Object.prototype.hasOwnProperty.call(byDate, value); }

    function units(i) { return (cells[i].dataset.units || '').split(' ').filter(Boolean); }

    // The days a stay from checkIn may end on: one room free every night in between,
    // within the facility's minimum and maximum nights (the server's rule, repeated).
    function checkOuts(checkIn) {
      var result = {};
      if (!inGrid(checkIn)) {
        // A check-in in an earlier month: the server worked its check-outs out.
        if (checkIn === serverIn) {
          cells.forEach(function (td) { if (td.hasAttribute('data-out')) { result[td.dataset.date] = true; } });
        }
        return result;
      }
      var free = units(byDate[checkIn]);
      for (var n = 1; n <= maxNights && free.length; n++) {
        var day = addDays(checkIn, n);
        if (n >= minNights) { result[day] = true; }
        if (!inGrid(day)) { break; }
        var next = units(byDate[day]);
        free = free.filter(function (id) { return next.indexOf(id) >= 0; });
      }
      return result;
    }

    function pickingOut() {
      return !!state.checkIn && !state.checkOut && (inGrid(state.checkIn) || state.checkIn === serverIn);
    }

    // What activating each day does: 'in' (a new check-in), 'out' (the check-out),
    // 'clear' (the check-in again), or nothing (aria-disabled).
    function actions() {
      var picking = pickingOut();
      var outs = picking ? checkOuts(state.checkIn) : {};
      return cells.map(function (td) {
        var day = td.dataset.date;
        var canIn = td.hasAttribute('data-in');
        if (!picking) { return canIn ? 'in' : null; }
        if (outs[day]) { return 'out'; }
        if (day === state.checkIn) { return 'clear'; }
        return canIn && day < state.checkIn ? 'in' : null;
      });
    }

    var current = [];

    function render() {
      current = actions();
      var checkIn = state.checkIn;
      var checkOut = state.checkOut;
      cells.forEach(function (td, i) {
        var day = td.dataset.date;
        var pick = picks[i];
        var isIn = !!checkIn && day === checkIn;
        var isOut = !!checkOut && day === checkOut;
        var inRange = !!checkIn && !!checkOut && day > checkIn && day < checkOut;
        td.classList.toggle('range-start', isIn);
        td.classList.toggle('range-end', isOut);
        td.classList.toggle('in-range', inRange);
        if (current[i]) { pick.removeAttribute('aria-disabled'); } else { pick.setAttribute('aria-disabled', 'true'); }
        var note = pick.querySelector('.state');
        if (note) {
          note.textContent = isIn ? ' ' + root.dataset.labelCheckIn
            : isOut ? ' ' + root.dataset.labelCheckOut
              : inRange ? ' ' + root.dataset.labelInStay : '';
        }
      });
      if (clearLink) { clearLink.hidden = !checkIn; }
      if (apply) {
        var changed = checkIn && checkOut && (checkIn !== serverIn || checkOut !== (root.dataset.checkOut || null));
        apply.hidden = !changed;
        if (changed) { apply.href = pageUrl(checkIn, checkOut, document.getElementById('rooms') ? 'rooms' : null); }
      }
      updateMonthLinks();
    }

    // This page (the clear link's address: month, room and guests kept) with the dates.
    function pageUrl(checkIn, checkOut, anchor) {
      var url = new URL(clearLink ? clearLink.href : window.location.href);
      url.searchParams.delete('check_in');
      url.searchParams.delete('check_out');
      if (checkIn) { url.searchParams.set('check_in', checkIn); }
      if (checkOut) { url.searchParams.set('check_out', checkOut); }
      if (anchor) { url.hash = anchor; }
      return url.toString();
    }

    // The month links keep the range being chosen.
    function updateMonthLinks() {
      section.querySelectorAll('.month-nav a[href]').forEach(function (link) {
        var url = new URL(link.href);
        ['check_in', 'check_out'].forEach(function (key) { url.searchParams.delete(key); });
        if (state.checkIn) { url.searchParams.set('check_in', state.checkIn); }
        if (state.checkOut) { url.searchParams.set('check_out', state.checkOut); }
        link.href = url.toString();
      });
    }

    // The room form's dates follow the calendar.
    function fillForm() {
      if (!inInput || !outInput) { return; }
      syncing = true;
      inInput.value = state.checkIn || '';
      outInput.value = state.checkOut || '';
      fire(inInput);
      fire(outInput);
      syncing = false;
    }

    function announce(text) { if (status) { status.textContent = text; } }

    function describe() {
      if (state.checkIn && state.checkOut) {
        return fill(root.dataset.msgRange, {
          in: dayLabel(state.checkIn),
          out: dayLabel(state.checkOut),
          nights: nightsText(root, nightsBetween(state.checkIn, state.checkOut))
        });
      }
      if (state.checkIn) { return fill(root.dataset.msgPickOut, { in: dayLabel(state.checkIn) }); }
      return root.dataset.msgPickIn;
    }

    function clear() {
      state = { checkIn: null, checkOut: null };
      render();
      fillForm();
      announce(root.dataset.msgCleared);
    }

    function choose(i) {
      var action = current[i];
      var day = cells[i].dataset.date;
      if (action === 'in') {
        state = { checkIn: day, checkOut: null };
      } else if (action === 'out') {
        state = { checkIn: state.checkIn, checkOut: day };
      } else if (action === 'clear') {
        clear();
        return;
      } else {
        return;
      }
      render();
      fillForm();
      announce(describe());
    }

    // Keyboard: one day is in the tab order (roving tabindex); arrows move by a day or
    // a week, Home/End to the week's ends, Enter or Space chooses, Escape clears.
    var focusIndex = 0;
    function initialFocus() {
      var candidates = [state.checkIn, root.dataset.today];
      for (var k = 0; k < candidates.length; k++) {
        if (candidates[k] && inGrid(candidates[k])) { return byDate[candidates[k]]; }
      }
      for (var i = 0; i < cells.length; i++) {
        if (!cells[i].classList.contains('other-month')) { return i; }
      }
      return 0;
    }
    function setFocusIndex(i, focus) {
      picks[focusIndex].tabIndex = -1;
      focusIndex = i;
      picks[i].tabIndex = 0;
      if (focus) { picks[i].focus(); }
    }

    table.setAttribute('role', 'grid');
    picks.forEach(function (pick) { pick.tabIndex = -1; });
    focusIndex = initialFocus();
    picks[focusIndex].tabIndex = 0;

    table.addEventListener('click', function (event) {
      var pick = event.target.closest('.pick');
      if (!pick) { return; }
      event.preventDefault();
      var i = picks.indexOf(pick);
      setFocusIndex(i, false);
      choose(i);
    });

    table.addEventListener('focusin', function (event) {
      var i = picks.indexOf(event.target);
      if (i >= 0 && i !== focusIndex) { setFocusIndex(i, false); }
    });

    table.addEventListener('keydown', function (event) {
      var i = picks.indexOf(event.target);
      if (i < 0 || event.altKey || event.ctrlKey || event.metaKey) { return; }
      var target = null;
      switch (event.key) {
        case 'ArrowLeft': target = i - 1; break;
        case 'ArrowRight': target = i + 1; break;
        case 'ArrowUp': target = i - 7; break;
        case 'ArrowDown': target = i + 7; break;
        case 'Home': target = i - (i % 7); break;
        case 'End': target = i - (i % 7) + 6; break;
        case 'Enter':
        case ' ':
          event.preventDefault();
          choose(i);
          return;
        case 'Escape':
          if (state.checkIn) { event.preventDefault(); clear(); }
          return;
        default:
          return;
      }
      event.preventDefault();
      if (target >= 0 && target < picks.length) { setFocusIndex(target, true); }
    });

    if (clearLink) {
      clearLink.addEventListener('click', function (event) {
        event.preventDefault();
        clear();
        picks[focusIndex].focus();
      });
    }

    // Dates typed into the room form show on the calendar too.
    if (form) {
      form.addEventListener('change', function (event) {
        if (syncing || (event.target !== inInput && event.target !== outInput)) { return; }
        var a = inInput.value;
        var b = outInput.value;
        if (!valid(a)) {
          state = { checkIn: null, checkOut: null };
        } else {
          state = { checkIn: a, checkOut: valid(b) && b > a ? b : null };
        }
        render();
      });
    }

    render();
  }

  // --- A form's check-in and check-out --------------------------------------------------

  // check_out's earliest day follows check_in; a check-in on or after the check-out moves
  // the check-out, keeping the length chosen before; a live "N nights" summary.
  function setUpDateRange(form) {
    var checkIn = form.querySelector('input[name=check_in]');
    var checkOut = form.querySelector('input[name=check_out]');
    if (!checkIn || !checkOut || checkIn.type !== 'date' || checkOut.type !== 'date') { return; }
    var container = form.querySelector('[data-date-range]');
    var messages = container && container.dataset.nightOne ? container
      : document.querySelector('[data-stay-calendar]');
    var summary = document.createElement('p');
    summary.className = 'nights-summary';
    summary.setAttribute('aria-live', 'polite');
    summary.setAttribute('data-testid', 'nights-summary');
    if (container) {
      container.appendChild(summary);
    } else {
      var anchor = checkOut.closest('label') || checkOut;
      anchor.parentNode.insertBefore(summary, anchor.nextSibling);
    }
    var length = nightsBetween(checkIn.value, checkOut.value) > 0
      ? nightsBetween(checkIn.value, checkOut.value) : 1;

    function update(changed) {
      var a = checkIn.value;
      if (valid(a)) {
        checkOut.min = addDays(a, 1);
        if (changed === checkIn && valid(checkOut.value) && checkOut.value <= a) {
          checkOut.value = addDays(a, length);
          checkOut.dispatchEvent(new Event('change', { bubbles: true }));
        }
      }
      var n = valid(a) && valid(checkOut.value) ? nightsBetween(a, checkOut.value) : 0;
      if (n > 0) {
        length = n;
        var text = nightsText(messages, n);
        var template = container && container.dataset.msgNights;
        summary.textContent = template ? fill(template, { nights: text }) : text;
      } else {
        summary.textContent = '';
      }
    }
    checkIn.addEventListener('change', function () { update(checkIn); });
    checkOut.addEventListener('change', function () { update(checkOut); });
    checkIn.addEventListener('input', function () { update(null); });
    checkOut.addEventListener('input', function () { update(null); });
    update(null);
  }

  function start() {
    document.querySelectorAll('[data-stay-calendar]').forEach(setUpCalendar);
    document.querySelectorAll('form.search-form, form.book-form').forEach(setUpDateRange);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
