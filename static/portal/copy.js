// Copy buttons, on every page that has them: the API Keys page's new key value and
// the package page's install commands. Markup, by data attributes:
//   [data-copy-field]      wraps one copyable value
//     [data-copy-source]   the read-only input holding it
//     [data-copy-button]   its Copy button, hidden until this script shows it
//     [data-copy-status]   where "copied" or "copy it yourself" is said (optional)
//   <template data-copied-text> and <template data-copy-failed-text>: the messages,
//   inside the field or any element around it (the nearest wins).
// It copies with the clipboard API where the page is a secure context, else selects
// the text and asks the browser to copy the selection. Without this script the
// buttons stay hidden and the values are selectable text.
(function () {
  "use strict";

  function message(field, selector) {
    for (var node = field; node; node = node.parentElement) {
      var template = node.querySelector(selector);
      if (template) {
        return template.innerHTML.trim();
      }
    }
    return "";
  }

  function enhance(field) {
    var input = field.querySelector("[data-copy-source]");
    var button = field.querySelector("[data-copy-button]");
    var status = field.querySelector("[data-copy-status]");
    if (!input || !button) {
      return;
    }
    function say(selector) {
      if (status) {
        status.textContent = message(field, selector);
      }
    }
    input.addEventListener("focus", function () {
      input.select();
    });
    input.addEventListener("click", function () {
      input.select();
    });
    button.hidden = false;
    button.addEventListener("click", function () {
      var copied = function () {
        say("[data-copied-text]");
      };
      var fallback = function () {
        // Without the clipboard API (plain HTTP, older browsers).
        input.focus();
        input.select();
        var ok = false;
        try {
          ok = document.execCommand("copy");
        } catch (error) {
          ok = false;
        }
        if (ok) {
          copied();
        } else {
          say("[data-copy-failed-text]");
        }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(copied, fallback);
      } else {
        fallback();
      }
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy-field]"), enhance);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
