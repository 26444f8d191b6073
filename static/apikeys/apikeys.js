// The API Keys page, enhanced: wipe the new key after 10 idle minutes, offer only the
// chosen Package Owner's packages, preview which of them a glob covers, and send each
// form only once (portal/copy.js copies the key).
// Every feature here is optional: the page works without this script.
(function () {
  "use strict";

  var IDLE_LIMIT_MS = 10 * 60 * 1000;

  function text(root, selector) {
    var template = root.querySelector(selector);
    return template ? template.innerHTML.trim() : "";
  }

  // --- The new key: wipe it ---------------------------------------------------------
  function enhanceNewKey(section) {
    var input = section.querySelector("[data-key-value]");
    var button = section.querySelector("[data-copy-button]");
    var status = section.querySelector("[data-copy-status]");
    if (!input) {
      return;
    }
    var timer = null;

    function say(message) {
      status.textContent = message;
    }
    function wipe() {
      input.value = "";
      input.remove();
      if (button) {
        button.remove();
      }
      say(text(section, "[data-wiped-text]"));
      stopWatching();
    }
    function restartTimer() {
      window.clearTimeout(timer);
      timer = window.setTimeout(wipe, IDLE_LIMIT_MS);
    }
    var activity = ["keydown", "pointerdown", "pointermove", "scroll", "focusin"];
    function stopWatching() {
      window.clearTimeout(timer);
      activity.forEach(function (name) {
        document.removeEventListener(name, restartTimer, true);
      });
    }

    activity.forEach(function (name) {
      document.addEventListener(name, restartTimer, true);
    });
    restartTimer();
    // Leaving the page takes the value along, so Back never brings it back.
    window.addEventListener("pagehide", wipe);
  }

  // --- Package selection: what the globs cover -----------------------------------
  function globToRegExp(glob) {
    // Mirrors apikeys/scopes.py for the preview only; the server decides.
    if (!/^[A-Za-z0-9_.*-]+$/.test(glob)) {
      return null;
    }
    var source = glob
      .split("*")
      .map(function (piece) {
        return piece.replace(/[.\-]/g, "\\$&");
      })
      .join(".*");
    return new RegExp("^" + source + "$", "i");
  }

  function enhancePackageSelection(fieldset) {
    var globs = fieldset.querySelector("[data-glob-input]");
    var boxes = Array.prototype.slice.call(fieldset.querySelectorAll("[data-package-choice]"));
    var counter = fieldset.querySelector("[data-package-counter]");
    var form = fieldset.closest("form");
    // The Package Owner: only its packages are offered (each item names its owners).
    var owner = form && form.querySelector("[data-package-owner]");
    var noOwnerText = fieldset.querySelector("[data-no-owner-text]");
    var emptyText = fieldset.querySelector("[data-owner-empty-text]");
    if (!globs || !boxes.length) {
      return;
    }
    boxes.forEach(function (box) {
      box.dataset.userChecked = box.checked ? "1" : "";
      box.addEventListener("change", function () {
        box.dataset.userChecked = box.checked ? "1" : "";
        update();
      });
    });

    function twin(box) {
      if (!box.twin) {
        box.twin = document.createElement("input");
        box.twin.type = "hidden";
        box.twin.name = box.name;
        box.twin.value = box.value;
        box.twin.disabled = true;
        box.parentNode.appendChild(box.twin);
      }
      return box.twin;
    }

    function ownedByChoice(box) {
      var item = box.closest("li");
      var owners = item && item.dataset.owners;
      if (!owner || owners === undefined) {
        return true;
      }
      return owner.value !== "" && owners.split(" ").indexOf(owner.value) !== -1;
    }

    function update() {
      var patterns = globs.value
        .split(/\r?\n/)
        .map(function (line) {
          return line.trim();
        })
        .filter(Boolean)
        .map(globToRegExp)
        .filter(Boolean);
      var selected = 0;
      var offered = 0;
      boxes.forEach(function (box) {
        var item = box.closest("li");
        if (!ownedByChoice(box)) {
          // Another owner's package: neither shown nor sent, and the user's pick
          // comes back if they choose that owner again.
          if (item) {
            item.hidden = true;
          }
          box.disabled = true;
          box.checked = false;
          twin(box).disabled = true;
          return;
        }
        offered += 1;
        if (item) {
          item.hidden = false;
        }
        var covered = patterns.some(function (pattern) {
          return pattern.test(box.value);
        });
        var picked = box.dataset.userChecked === "1";
        // A covered package shows checked and greyed. A disabled box is not
        // sent, so the user's own pick travels in a hidden twin: it must
        // survive if the glob is removed later.
        box.disabled = covered;
        box.checked = covered || picked;
        twin(box).disabled = !(covered && picked);
        if (item) {
          item.classList.toggle("package-list__item--covered", covered);
        }
        if (box.checked) {
          selected += 1;
        }
      });
      var noOwner = Boolean(owner) && owner.value === "";
      if (noOwnerText) {
        noOwnerText.hidden = !noOwner;
      }
      if (emptyText) {
        emptyText.hidden = noOwner || offered > 0;
      }
      if (counter) {
        counter.hidden = offered === 0;
        counter.textContent = counter.dataset.template
          .replace("__SELECTED__", String(selected))
          .replace("__TOTAL__", String(offered));
      }
    }
    globs.addEventListener("input", update);
    if (owner) {
      owner.addEventListener("change", update);
    }
    update();
  }

  // --- Scopes: the two push options apply only when Push is ticked --------------
  function enhancePushOptions(options) {
    var form = options.closest("form");
    var push = form && form.querySelector('input[name="push"]');
    if (!push) {
      return;
    }
    var radios = Array.prototype.slice.call(options.querySelectorAll('input[type="radio"]'));
    function update() {
      radios.forEach(function (radio) {
        radio.disabled = !push.checked;
      });
    }
    push.addEventListener("change", update);
    update();
  }

  // --- Forms that must not be sent twice -------------------------------------------
  function enhanceSubmitOnce(button) {
    var form = button.form;
    if (!form) {
      return;
    }
    form.addEventListener("submit", function () {
      // After this tick, so that the button's own value is still sent.
      window.setTimeout(function () {
        button.disabled = true;
      }, 0);
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-new-key]"), enhanceNewKey);
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-package-selection]"),
      enhancePackageSelection
    );
    Array.prototype.forEach.call(document.querySelectorAll("[data-push-options]"), enhancePushOptions);
    Array.prototype.forEach.call(document.querySelectorAll("[data-submit-once]"), enhanceSubmitOnce);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
