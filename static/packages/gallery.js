// The package page, enhanced: a Copy button beside each install command. It copies
// as the API Keys page copies a new key's value: the clipboard API where the page is
// a secure context, else select the text and ask the browser to copy the selection.
// Without this script the buttons stay hidden and the commands are selectable text.
(function () {
  "use strict";

  function text(selector) {
    var template = document.querySelector(selector);
    return template ? template.innerHTML.trim() : "";
  }

  function enhance(field) {
    var input = field.querySelector("[data-copy-source]");
    var button = field.querySelector("[data-copy-button]");
    var status = field.querySelector("[data-copy-status]");
    if (!input || !button) {
      return;
    }
    function say(message) {
      if (status) {
        status.textContent = message;
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
        say(text("[data-copied-text]"));
      };
      var fallback = function () {
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
          say(text("[data-copy-failed-text]"));
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
