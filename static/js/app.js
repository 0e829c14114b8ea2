// Engawa's only shared script, loaded on every page (the content policy allows no inline
// code). It runs from <head> without `defer`, so the first thing it does, marking the page
// as scripted, happens before the first paint: the phone menu starts closed without a flash.
// Everything else waits for the document.
(function () {
  'use strict';

  document.documentElement.classList.add('js');

  // The header's menu on a phone: a button opens and closes the navigation. Without the
  // script the button stays hidden and the navigation is simply shown.
  function setUpMenu() {
    var button = document.querySelector('.site-header .menu-button');
    var nav = button && document.getElementById(button.getAttribute('aria-controls'));
    if (!nav) { return; }
    button.hidden = false;
    function setOpen(open) {
      button.setAttribute('aria-expanded', open ? 'true' : 'false');
      nav.classList.toggle('open', open);
    }
    button.addEventListener('click', function () {
      setOpen(button.getAttribute('aria-expanded') !== 'true');
    });
    document.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && button.getAttribute('aria-expanded') === 'true') {
        setOpen(false);
        button.focus();
      }
    });
  }

  // Ask before destructive actions (cancel a stay, revoke a token): <form data-confirm="…">.
  function setUpConfirms() {
    document.querySelectorAll('form[data-confirm]').forEach(function (form) {
      form.addEventListener('submit', function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  }

  // Disable a <button data-once> after its form is sent; the server also acts once per key.
  function setUpOnce() {
    document.querySelectorAll('button[data-once]').forEach(function (button) {
      if (!button.form) { return; }
      button.form.addEventListener('submit', function (event) {
        setTimeout(function () {
          if (!event.defaultPrevented) { button.disabled = true; }
        }, 0);
      });
    });
  }

  // The skip link: focus <main> itself, so the next Tab starts inside the content
  // (browsers that only scroll to the target would leave focus on the link).
  function setUpSkipLink() {
    var link = document.querySelector('a.skip-link');
    if (!link) { return; }
    link.addEventListener('click', function (event) {
      var target = document.getElementById(link.getAttribute('href').slice(1));
      if (!target) { return; }
      event.preventDefault();
      target.focus();
      target.scrollIntoView();
    });
  }

  // A region that scrolls sideways (a wide table, a month grid) is a Tab stop, so the
  // keyboard can scroll it; one that fits the screen needs no stop of its own.
  function updateScrollRegions() {
    document.querySelectorAll('[role=region][data-scroll-region]').forEach(function (region) {
      if (region.scrollWidth > region.clientWidth + 1) {
        region.setAttribute('tabindex', '0');
      } else {
        region.removeAttribute('tabindex');
      }
    });
  }
  function setUpScrollRegions() {
    document.querySelectorAll('.table-wrap[role=region], .grid-wrap[role=region], ' +
        '.calendar-wrap[role=region], .chart-wrap[role=region]').forEach(function (region) {
      region.setAttribute('data-scroll-region', '');
    });
    updateScrollRegions();
    window.addEventListener('load', updateScrollRegions);  // after stylesheets and fonts
    var pending = null;
    window.addEventListener('resize', function () {
      if (pending) { window.cancelAnimationFrame(pending); }
      pending = window.requestAnimationFrame(updateScrollRegions);
    });
    // A table inside <details> gets its width only once opened.
    document.addEventListener('toggle', updateScrollRegions, true);
  }

  // An address to copy (calendar exports): a click or focus selects all of it.
  function selectCopyUrl(event) {
    var input = event.target;
    if (input instanceof HTMLInputElement && input.classList.contains('copy-url')) {
      input.select();
    }
  }
  document.addEventListener('click', selectCopyUrl);
  document.addEventListener('focusin', selectCopyUrl);

  function start() {
    setUpMenu();
    setUpSkipLink();
    setUpScrollRegions();
    setUpConfirms();
    setUpOnce();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
