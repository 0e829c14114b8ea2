// Engawa's only script, loaded on every page (the content policy allows no inline code).
(function () {
  'use strict';

  // Ask before destructive actions (cancel a stay, revoke a token): <form data-confirm="…">.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });

  // Disable a <button data-once> after its form is sent; the server also acts once per key.
  document.querySelectorAll('button[data-once]').forEach(function (button) {
    if (!button.form) { return; }
    button.form.addEventListener('submit', function (event) {
      setTimeout(function () {
        if (!event.defaultPrevented) { button.disabled = true; }
      }, 0);
    });
  });

  // An address to copy (calendar exports): a click or focus selects all of it.
  function selectCopyUrl(event) {
    var input = event.target;
    if (input instanceof HTMLInputElement && input.classList.contains('copy-url')) {
      input.select();
    }
  }
  document.addEventListener('click', selectCopyUrl);
  document.addEventListener('focusin', selectCopyUrl);
})();
