// A facility's workspace day (templates/booking/workspace_day.html): tap the slot you
// start with, then the slot you end with, and the range is highlighted and written into
// the unit's form (its start radio and its length select). Progressive enhancement:
// without this script each free slot is a radio button and the length a select, which
// work by keyboard too; keyboard changes here only repaint the range.
(function () {
  'use strict';

  function fill(template, values) {
    return (template || '').replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : match;
    });
  }

  function setUp(form) {
    var slots = Array.prototype.slice.call(form.querySelectorAll('.ws-slot'));
    var select = form.querySelector('select[name=minutes]');
    var summary = form.querySelector('[data-ws-summary]');
    if (!slots.length || !select || !summary) { return; }
    var step = parseInt(form.dataset.slotMinutes, 10) || 30;
    var tapped = null; // the slot index a pointer went down on, until its click
    var waitingForEnd = false;

    function radioOf(i) { return slots[i].querySelector('input[type=radio]'); }
    function isFree(i) { return slots[i] && slots[i].dataset.available === 'true'; }
    function checkedIndex() {
      for (var i = 0; i < slots.length; i++) {
        var radio = radioOf(i);
        if (radio && radio.checked) { return i; }
      }
      return -1;
    }
    function lengths() {
      return Array.prototype.map.call(select.options, function (o) { return parseInt(o.value, 10); });
    }
    function say(text, warn) {
      summary.textContent = text;
      summary.classList.toggle('warn', !!warn);
    }

    function paint() {
      var start = checkedIndex();
      slots.forEach(function (li) { li.classList.remove('chosen', 'clash', 'anchor'); });
      if (start < 0) { say(''); return; }
      if (waitingForEnd) {
        slots[start].classList.add('anchor', 'chosen');
        say(fill(form.dataset.msgEnd, { from: slots[start].dataset.from }));
        return;
      }
      var count = Math.round(parseInt(select.value, 10) / step);
      var last = Math.min(start + count, slots.length) - 1;
      var clash = start + count > slots.length;
      for (var i = start; i <= last; i++) {
        slots[i].classList.add('chosen');
        if (!isFree(i)) { slots[i].classList.add('clash'); clash = true; }
      }
      var values = {
        from: slots[start].dataset.from,
        to: slots[last].dataset.to,
        length: select.options[select.selectedIndex].text
      };
      if (clash) { say(fill(form.dataset.msgTaken, values), true); }
      else { say(fill(form.dataset.msgChosen, values)); }
    }

    function freeRun(from, to) {
      for (var i = from; i <= to; i++) { if (!isFree(i)) { return false; } }
      return true;
    }

    // A tap: the first chooses the start, the second (on it or a later free slot with
    // nothing taken between) the end.
    function tap(i) {
      var start = waitingForEnd ? form.dataset.anchor : null;
      start = start === null || start === undefined ? -1 : parseInt(start, 10);
      if (start < 0 || i < start || !freeRun(start, i)) {
        form.dataset.anchor = String(i);
        radioOf(i).checked = true;
        select.selectedIndex = 0;
        waitingForEnd = true;
        paint();
        return;
      }
      radioOf(start).checked = true;
      waitingForEnd = false;
      var wanted = (i - start + 1) * step;
      var options = lengths();
      var index = options.indexOf(wanted);
      if (index < 0 && wanted < options[0]) { index = 0; }
      if (index < 0) {
        select.selectedIndex = options.length - 1;
        paint();
        say(form.dataset.msgTooLong, true);
        return;
      }
      select.selectedIndex = index;
      paint();
    }

    form.addEventListener('pointerdown', function (event) {
      var li = event.target.closest('.ws-slot');
      tapped = li && isFree(slots.indexOf(li)) ? slots.indexOf(li) : null;
    });
    form.addEventListener('click', function (event) {
      var target = event.target;
      if (!(target instanceof HTMLInputElement) || target.name !== 'start') { return; }
      var i = slots.indexOf(target.closest('.ws-slot'));
      if (tapped !== null && tapped === i) {
        tapped = null;
        tap(i);
      } else {
        waitingForEnd = false; // the keyboard: a new start, the length kept
        paint();
      }
    });
    select.addEventListener('change', function () { waitingForEnd = false; paint(); });
    form.addEventListener('submit', function () { waitingForEnd = false; });
    paint();
  }

  function init() {
    document.querySelectorAll('.ws-js-only').forEach(function (el) { el.hidden = false; });
    document.querySelectorAll('form[data-ws-unit]').forEach(setUp);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
