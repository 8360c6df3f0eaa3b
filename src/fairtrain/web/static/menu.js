// The menu stands open on a wide screen and folds into one "Menu" button on a phone (a <details>).
(function () {
  const menu = document.getElementById("menu");
  if (!menu || !window.matchMedia) return;
  const wide = window.matchMedia("(min-width: 48rem)");
  const fit = () => { menu.open = wide.matches; };
  fit();
  wide.addEventListener("change", fit);
})();
