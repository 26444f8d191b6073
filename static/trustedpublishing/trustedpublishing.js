// Trusted Publishing page: show only the chosen provider's fields. Without
// JavaScript both sets stay visible and the server reads the chosen one.
(function () {
  "use strict";
  function update(form) {
    var chosen = form.querySelector("[data-provider-choice]:checked");
    form.querySelectorAll("[data-provider]").forEach(function (set) {
      set.hidden = !!chosen && set.getAttribute("data-provider") !== chosen.value;
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-provider-choice]")) return;
    form.querySelectorAll("[data-provider-choice]").forEach(function (radio) {
      radio.addEventListener("change", function () { update(form); });
    });
    update(form);
  });
})();
