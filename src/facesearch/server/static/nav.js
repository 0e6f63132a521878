// On a narrow screen the links are one row that scrolls sideways: bring the current page's
// link into view (a no-op where every link fits).
(function () {
  var here = document.querySelector('.nav a[aria-current="page"]');
  var nav = here && here.parentElement;
  if (nav && nav.scrollWidth > nav.clientWidth) {
    var left = here.getBoundingClientRect().left - nav.getBoundingClientRect().left;
    nav.scrollLeft += left - (nav.clientWidth - here.offsetWidth) / 2;
  }
})();
