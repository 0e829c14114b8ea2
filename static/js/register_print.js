// The guest register's print view: a Print button for the browser's print dialogue.
// Without this script the button stays hidden and the page says to use the browser's own
// Print command, which prints the same document.
(function () {
  'use strict';
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('button[data-print]').forEach(function (button) {
      button.hidden = false;
      button.addEventListener('click', function () { window.print(); });
    });
  });
}());
