// The user menu: a disclosure button that shows and hides the account links.
// Without this script the links stay visible as a plain list.
(function () {
  "use strict";

  function enhance(menu) {
    var button = menu.querySelector("[data-menu-button]");
    var list = menu.querySelector("[data-menu-list]");
    if (!button || !list) {
      return;
    }
    var items = function () {
      return Array.prototype.slice.call(list.querySelectorAll("a, button"));
    };

    function isOpen() {
      return button.getAttribute("aria-expanded") === "true";
    }
    function open(focusFirst) {
      button.setAttribute("aria-expanded", "true");
      list.hidden = false;
      if (focusFirst) {
        items()[0].focus();
      }
    }
    function close(returnFocus) {
      button.setAttribute("aria-expanded", "false");
      list.hidden = true;
      if (returnFocus) {
        button.focus();
      }
    }

    menu.classList.add("user-menu--enhanced");
    button.hidden = false;
    close(false);

    button.addEventListener("click", function () {
      if (isOpen()) {
        close(false);
      } else {
        open(false);
      }
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        open(true);
      }
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && isOpen()) {
        event.preventDefault();
        close(true);
        return;
      }
      // The button handles its own ArrowDown (open, focus the first item).
      if (event.target === button || !isOpen()) {
        return;
      }
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") {
        return;
      }
      var all = items();
      var index = all.indexOf(document.activeElement);
      if (index === -1) {
        return;
      }
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      all[(index + step + all.length) % all.length].focus();
    });
    // Close when focus or a click goes elsewhere on the page.
    menu.addEventListener("focusout", function (event) {
      if (isOpen() && event.relatedTarget && !menu.contains(event.relatedTarget)) {
        close(false);
      }
    });
    document.addEventListener("click", function (event) {
      if (isOpen() && !menu.contains(event.target)) {
        close(false);
      }
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-menu]"), enhance);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
