// Facility photo galleries (templates/booking/_photos.html, macro `gallery`).
// Without this script a gallery is a list of photos that scrolls sideways. With it, one
// photo shows at a time: previous/next buttons, thumbnails, the Left/Right arrow keys
// while the gallery has focus, and a swipe on a touch screen (pointer events).
(function () {
  'use strict';

  var SWIPE_PX = 40; // a shorter move is a tap, or a vertical scroll that wandered

  function enhance(root) {
    var track = root.querySelector('[data-gallery-track]');
    var slides = Array.prototype.slice.call(root.querySelectorAll('[data-gallery-slide]'));
    var controls = root.querySelector('[data-gallery-controls]');
    var thumbsList = root.querySelector('[data-gallery-thumbs]');
    if (!track || slides.length < 2 || !controls || !thumbsList) { return; }
    var prev = root.querySelector('[data-gallery-prev]');
    var next = root.querySelector('[data-gallery-next]');
    var status = root.querySelector('[data-gallery-status]');
    var thumbs = Array.prototype.slice.call(thumbsList.querySelectorAll('[data-gallery-thumb]'));
    var label = root.getAttribute('data-label-photo') || '{n} / {total}';
    var current = 0;

    function show(index) {
      current = (index + slides.length) % slides.length;
      slides.forEach(function (slide, i) {
        slide.hidden = i !== current;
        if (i === current) {
          var img = slide.querySelector('img');
          if (img) { img.loading = 'eager'; }
        }
      });
      thumbs.forEach(function (thumb, i) {
        if (i === current) { thumb.setAttribute('aria-current', 'true'); }
        else { thumb.removeAttribute('aria-current'); }
      });
      var text = label.replace('{n}', String(current + 1)).replace('{total}', String(slides.length));
      status.textContent = text;
    }

    root.classList.add('is-enhanced');
    controls.hidden = false;
    thumbsList.hidden = false;

    prev.addEventListener('click', function () { show(current - 1); });
    next.addEventListener('click', function () { show(current + 1); });
    thumbs.forEach(function (thumb) {
      thumb.addEventListener('click', function () {
        show(parseInt(thumb.getAttribute('data-gallery-thumb'), 10));
      });
    });

    root.addEventListener('keydown', function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) { return; }
      if (event.key === 'ArrowLeft') { show(current - 1); }
      else if (event.key === 'ArrowRight') { show(current + 1); }
      else if (event.key === 'Home') { show(0); }
      else if (event.key === 'End') { show(slides.length - 1); }
      else { return; }
      event.preventDefault();
      // Keys pressed on a thumbnail keep the focus on the thumbnail of the photo shown.
      if (thumbs.indexOf(document.activeElement) !== -1) { thumbs[current].focus(); }
    });

    // Swipe: a horizontal move of a finger or pen over the photo (vertical scrolling
    // stays the browser's, see touch-action in gallery.css).
    var start = null;
    track.addEventListener('pointerdown', function (event) {
      if (event.pointerType === 'mouse') { return; }
      start = { x: event.clientX, y: event.clientY, id: event.pointerId };
    });
    track.addEventListener('pointerup', function (event) {
      if (!start || event.pointerId !== start.id) { return; }
      var dx = event.clientX - start.x;
      var dy = event.clientY - start.y;
      start = null;
      if (Math.abs(dx) >= SWIPE_PX && Math.abs(dx) > Math.abs(dy)) {
        show(dx < 0 ? current + 1 : current - 1);
      }
    });
    track.addEventListener('pointercancel', function () { start = null; });

    show(0);
  }

  document.querySelectorAll('[data-gallery]').forEach(enhance);
})();
